"""Logging setup: one plain line per record for people, or one JSON object per line for collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from ticketbridge.core.timefmt import iso_z

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": iso_z(datetime.fromtimestamp(record.created, UTC), "microseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure_logging(*, debug: bool, json_format: bool) -> None:
    root = logging.getLogger("ticketbridge")
    for previous in list(root.handlers):
        root.removeHandler(previous)
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s")
        )
        handler.addFilter(_context_filter)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False


def _context_filter(record: logging.LogRecord) -> bool:
    """Append `extra=` fields as key=value, so text logs carry what JSON logs carry."""
    extras = {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key != "context"
    }
    record.context = "".join(f" {key}={value}" for key, value in extras.items())
    return True
