"""A glance at a configuration file before it is read: could this run probe enough endpoints
for forked probing workers to pay for themselves?

The workers are forked before the configuration is loaded (discovery/workers.py says why), so
this is decided from the file's text, without parsing it: TOML parsing is pure Python, and a
configuration of 20,000 endpoints takes a large fraction of a second to parse, which the real
load does once anyway. The glance errs towards forking: a file it cannot read, any
`[sources...]` table (which may yield any number of endpoints), a `workers` key other than 0 or
1, endpoints given as an inline array, or an environment variable that could add endpoints. A
run that probes a handful of endpoints, or only reads certificate files, then starts without
importing or forking anything it will not use.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

# A `[[endpoints]]` table may stand for several endpoints (each address a name resolves to); a
# quarter of the point where workers start to pay (discovery.workers.AUTO_WORKERS_MIN_ENDPOINTS
# = 512) leaves room for four addresses a name.
FEW_ENDPOINT_TABLES = 128
_MAX_GLANCE_BYTES = 16 * 1024 * 1024  # app/config_sources.py refuses larger configs anyway
_ENVIRONMENT_THAT_ADDS = (
    "TICKETBRIDGE_ENDPOINTS",
    "TICKETBRIDGE_SOURCES",
    "TICKETBRIDGE_DISCOVERY",
)
# Line starts, as TOML allows them (whitespace around brackets and dotted keys); a match inside
# a multi-line string only makes the glance fork when it need not, never the reverse.
_ENDPOINT_TABLE = re.compile(rb"^[ \t]*\[\[[ \t]*endpoints[ \t]*\]\]", re.MULTILINE)
_MAY_ADD = re.compile(
    rb"^[ \t]*(?:\[+[ \t]*\"?sources\b|\"?sources\"?[ \t]*[.=]|\"?endpoints\"?[ \t]*="
    rb"|(?:discovery[ \t]*\.[ \t]*)?\"?workers\"?[ \t]*=(?![ \t]*[01][ \t]*(?:#|\r?$)))",
    re.MULTILINE,
)


def may_need_workers(path: Path | None, environ: Mapping[str, str]) -> bool:
    """False only when the file clearly lists too few endpoints for a second process."""
    if any(name.upper().startswith(_ENVIRONMENT_THAT_ADDS) for name in environ):
        return True
    if path is None:
        return True
    text = _regular_file_text(path)
    if text is None:
        return True  # the real load reports the problem; until then assume the worst
    if _MAY_ADD.search(text):
        return True
    for tables, _ in enumerate(_ENDPOINT_TABLE.finditer(text), start=1):
        if tables >= FEW_ENDPOINT_TABLES:
            return True
    return False


def _regular_file_text(path: Path) -> bytes | None:
    """The file's bytes, if it is a regular file of a sane size; never waits on a FIFO or a
    device (the real load refuses those with a clear error)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > _MAX_GLANCE_BYTES:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(_MAX_GLANCE_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
