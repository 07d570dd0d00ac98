"""Where the configuration file is looked for: light enough that `--version` and `--help` start
without loading the settings models (pydantic)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_ENV_VAR = "TICKETBRIDGE_CONFIG"
DEFAULT_CONFIG_PATH = Path("ticketbridge.toml")


def resolve_config_path(cli_path: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """`--config`, else `$TICKETBRIDGE_CONFIG`, else `./ticketbridge.toml`; and whether it was asked for."""
    if cli_path is not None:
        return cli_path, True
    from_env = environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def environment() -> Mapping[str, str]:
    return os.environ
