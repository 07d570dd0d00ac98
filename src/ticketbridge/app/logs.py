"""Logging setup: one plain line per record for people, or one JSON object per line for collectors.

Everything a handler writes passes the one scrubber (`infra.scrub`) last, tracebacks included:
a secret that reaches a log record by any route (an echoed header, a URL, an exception's
arguments) is redacted where it would leave the process.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ticketbridge.infra.escape import inert
from ticketbridge.infra.scrub import register_secret, scrub

if TYPE_CHECKING:
    from ticketbridge.app.config import Settings

from ticketbridge.core.timefmt import iso_z

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": iso_z(datetime.fromtimestamp(record.created, UTC), "microseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                document[key] = _scrubbed(value)
        if record.exc_info:
            document["exception"] = scrub(self.formatException(record.exc_info))
        # Scrubbed field by field: a pattern run over the encoded line could eat a `\"`.
        return json.dumps(document, default=lambda value: scrub(str(value)), ensure_ascii=False)


def _scrubbed(value: Any) -> Any:
    """An `extra=` value with every string in it scrubbed, however deeply nested."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {_scrubbed(key): _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(item) for item in value]
    return value


class ScrubbingFormatter(logging.Formatter):
    """The plain-text line, message and traceback, with every secret redacted and escapes inert."""

    def format(self, record: logging.LogRecord) -> str:
        return inert(scrub(super().format(record)), keep_newlines=True)


def configure_logging(*, debug: bool, json_format: bool) -> None:
    root = logging.getLogger("ticketbridge")
    for previous in list(root.handlers):
        root.removeHandler(previous)
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s")
        )
        handler.addFilter(_context_filter)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
    # `--debug` lets an unexpected exception reach the interpreter, which prints the chained
    # traceback itself: that printer scrubs too.
    sys.excepthook = scrubbing_excepthook


def scrubbing_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """`sys.excepthook` with every line of the (chained) traceback scrubbed and made inert."""
    for chunk in traceback.format_exception(exc_type, exc, tb):
        sys.stderr.write(inert(scrub(chunk), keep_newlines=True))
    sys.stderr.flush()


def register_settings_secrets(settings: Settings) -> None:
    """Make every credential in the configuration unprintable, before anything can echo it.

    The Jira token is registered with the email too: Cloud sends it as HTTP Basic
    `base64(email:token)`, and a server echoing the header echoes that form.
    """
    register_secret(settings.jira.token.get_secret_value(), user=settings.jira.email)
    for pagerduty in settings.alerts.pagerduty:
        register_secret(pagerduty.routing_key.get_secret_value())
    for webhook in settings.alerts.webhook:
        register_secret(webhook.secret.get_secret_value())


def _context_filter(record: logging.LogRecord) -> bool:
    """Append `extra=` fields as key=value, so text logs carry what JSON logs carry."""
    extras = {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key != "context"
    }
    record.context = "".join(f" {key}={value}" for key, value in extras.items())
    return True
