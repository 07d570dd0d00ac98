"""Where configuration comes from: a bounded read of the TOML file and the `TICKETBRIDGE_*`
environment, each override remembering the variable it came from."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import tomli  # the parser `tomllib` is, compiled with mypyc: 3x faster on a config of 1,000 endpoints
from pydantic import BaseModel

from ticketbridge.app.config_path import CONFIG_ENV_VAR
from ticketbridge.errors import ConfigError

ENV_PREFIX = "TICKETBRIDGE_"
# Variables with the prefix that are not settings: they are read where they are used.
NOT_SETTINGS = frozenset({CONFIG_ENV_VAR})
# A config is a few KiB; a cap keeps a mistaken `--config /var/log/huge` from eating memory.
MAX_CONFIG_BYTES = 16 * 1024 * 1024

# A key path (`("discovery", "concurrency")`) -> the environment variable that set it.
Origins = dict[tuple[str, ...], str]


def read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML, or one ConfigError line: never a hang on a FIFO or a device, never a
    RecursionError on absurd nesting."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path}: is a directory, not a TOML file")
        if _is_dev_null(fd):
            return {}  # `--config /dev/null`: every setting from the environment
        if not stat.S_ISREG(mode):
            # /dev/zero never ends, a FIFO may never answer: only a regular file is a config.
            raise ConfigError(f"{path}: not a regular file (a FIFO, device or socket?)")
        raw = _read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        return tomli.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None


def _is_dev_null(fd: int) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), Path(os.devnull).stat())
    except OSError:
        return False


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(1024 * 1024, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def environment_overrides(
    model: type[BaseModel], environ: Mapping[str, str], *, ignore: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], Origins]:
    """`TICKETBRIDGE_<SECTION>__<KEY>` variables as nested data, and where each came from.

    Like pydantic-settings (which this replaces, so that an error can name the variable):
    names are case-insensitive, `__` descends one level, and a value for a table or a list is
    JSON. Unlike it, a variable that names no setting is an error, as an unknown key is.
    """
    data: dict[str, Any] = {}
    origins: Origins = {}
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS or name in ignore:
            continue
        path = tuple(part.lower() for part in upper.removeprefix(ENV_PREFIX).split("__"))
        annotation = _annotation_at(model, path)
        if annotation is None:
            raise ConfigError(
                f"environment variable {name}: unknown key {'.'.join(path) or '(empty)'}"
            )
        value: Any = environ[name]
        if _structured(annotation):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise ConfigError(
                    f"environment variable {name}: not valid JSON (a table or list "
                    "is given as JSON)"
                ) from None
        _set(data, path, value)
        origins[path] = name
    return data, origins


def merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it, tables merged key by key."""
    result = dict(base)
    for key, value in overrides.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = merged(current, value)
        else:
            result[key] = value
    return result


def origin_of(location: tuple[int | str, ...], origins: Origins) -> str | None:
    """The variable that set the value at `location` (or a table around it), if one did."""
    path = tuple(part for part in location if isinstance(part, str))
    for length in range(len(path), 0, -1):
        if path[:length] in origins:
            return origins[path[:length]]
    return None


def _annotation_at(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """The type of the setting at `path`, or None when there is no such setting."""
    current: Any = model
    for part in path:
        section = _model_in(current)
        if section is None or not part:
            return None
        fields = getattr(section, "model_fields", None) or getattr(
            section, "__pydantic_fields__", {}
        )
        if part not in fields:
            return None
        current = fields[part].annotation
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model a key path may descend into (lists are set whole, as JSON)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _structured(annotation: Any) -> bool:
    """A table or a list: given as JSON in the environment (pydantic-settings' rule)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_structured(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin in (list, tuple, dict, set, frozenset):
        return True
    return _model_in(annotation) is not None


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[path[-1]] = value
