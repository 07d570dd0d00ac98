"""A glance at a configuration file before it is validated: could this run probe enough
endpoints for forked probing workers to pay for themselves?

The workers are forked before the configuration is loaded (discovery/workers.py says why), so
this is decided from the raw TOML alone. It errs towards forking: anything it cannot read, any
`[[sources.*]]` (which may yield any number of endpoints), an explicit `[discovery] workers`, or
an environment variable that could add endpoints. A run that probes a handful of endpoints, or
only reads certificate files, then starts without importing or forking anything it will not use.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# A `[[endpoints]]` table may stand for several endpoints (each address a name resolves to); a
# quarter of the point where workers start to pay (discovery.workers.AUTO_WORKERS_MIN_ENDPOINTS
# = 512) leaves room for four addresses a name.
FEW_ENDPOINT_TABLES = 128
_ENVIRONMENT_THAT_ADDS = (
    "TICKETBRIDGE_ENDPOINTS",
    "TICKETBRIDGE_SOURCES",
    "TICKETBRIDGE_DISCOVERY",
)


def may_need_workers(path: Path | None, environ: Mapping[str, str]) -> bool:
    """False only when the file clearly lists too few endpoints for a second process."""
    if any(name.upper().startswith(_ENVIRONMENT_THAT_ADDS) for name in environ):
        return True
    if path is None:
        return True
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return True  # the real load reports the problem; until then assume the worst
    if document.get("sources"):
        return True
    discovery = document.get("discovery")
    if isinstance(discovery, dict) and discovery.get("workers") not in (None, 0, 1):
        return True
    endpoints = document.get("endpoints", [])
    if not isinstance(endpoints, list):
        return True
    return len(endpoints) >= FEW_ENDPOINT_TABLES
