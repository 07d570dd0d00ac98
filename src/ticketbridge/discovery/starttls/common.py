"""What every STARTTLS dialogue shares: its limits, its refusal, and quoting server text."""

from __future__ import annotations

from ticketbridge.discovery.stream import ProtocolViolation
from ticketbridge.infra.escape import one_line

# A reply longer than this is not a greeting: real servers stay far below it (RFC 5321 allows 512
# octets per SMTP reply line), and the cap keeps one hostile line from costing the whole budget.
LINE_LIMIT = 4096
# Lines in one multi-line reply, and untagged IMAP lines skipped while waiting for the tagged one.
MAX_REPLY_LINES = 200
QUOTE_LIMIT = 200


class StartTLSRefused(ProtocolViolation):
    """The server answered, but would not start TLS (or offered no way to)."""


def quote(data: bytes | str, limit: int = QUOTE_LIMIT) -> str:
    """Server text made safe for logs and messages: control characters escaped, truncated."""
    text = data.decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data
    return one_line(text.rstrip("\r\n"), limit)
