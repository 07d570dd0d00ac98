"""YAML and JSON documents of the sources, read safely, with the line of every mapping kept so
that an error can name it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ticketbridge.sources.base import SourceError, read_source_text


class Located(dict[Any, Any]):
    """A mapping that remembers the line (1-based) it starts on in its file."""

    line: int = 0


class _LocatingLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no arbitrary objects), with mappings that know their line."""


def _construct_located(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Located:
    mapping = Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_located)


def line_of(value: object) -> str:
    """`line N: ` for a located mapping, else nothing (JSON keeps no lines per object)."""
    return f"line {value.line}: " if isinstance(value, Located) and value.line else ""


def load_documents(path: Path) -> list[Any]:
    """Every document of a YAML (`---`-separated) or JSON file; a syntax error names the line."""
    text = read_source_text(path)
    if path.suffix.lower() == ".json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise SourceError(f"{path}: invalid JSON: nested too deeply") from None
    try:
        return [document for document in _documents(text) if document is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise SourceError(f"{path}: {where}invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise SourceError(f"{path}: invalid YAML: nested too deeply") from None


def _documents(text: str) -> Iterator[Any]:
    yield from yaml.load_all(text, Loader=_LocatingLoader)
