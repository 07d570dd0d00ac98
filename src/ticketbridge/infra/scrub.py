"""Secret scrubbing and the one-line form of outside text: what may reach a log, a terminal or an audit record.

Two questions, two functions:

* `scrub(text)` removes credentials: every registered secret in any letter case (and its
  Basic-auth and percent-encoded forms), the value of any `Authorization`/`Proxy-Authorization`
  header a server echoed back, `Bearer`/`Basic` credentials, and URL userinfo (`user:password@`).
  It keeps the length and lines of everything else, so it is safe on a whole traceback.
* `outside_detail(text)` is for text an outside party wrote (an error body, a status line): it is
  scrubbed, made single-line and inert (control characters, ANSI escapes and bidi overrides
  become visible `\\xNN`/`\\uNNNN` escapes) and cut to about 200 characters, so a 1.3 MB HTML 502
  is one short line.

Secrets are registered once, by whoever holds them (`register_secret`), into one process-wide
`Scrubber`; log handlers, the command line's error line and the alert sinks all use that one.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

from ticketbridge.infra import escape

__all__ = [
    "DETAIL_LIMIT",
    "REDACTED",
    "Scrubber",
    "default_scrubber",
    "one_line",
    "outside_detail",
    "register_secret",
    "scrub",
]

REDACTED = "[redacted]"
DETAIL_LIMIT = 200
# Shorter values are not registered: redacting every "abc" would make messages unreadable while
# hiding nothing a real credential (PagerDuty routing keys: 32 characters, Atlassian API tokens:
# 192) would be mistaken for.
MIN_SECRET_LENGTH = 4

# `Authorization: Basic …`, `"authorization": "Bearer …"`, `'Authorization': '…'` (a dict repr):
# the header name, its separator and optional quote are kept, the value up to the quote, line end
# or comma is replaced. RFC 9110 §11.6.2 (Authorization) and §11.7.2 (Proxy-Authorization).
_AUTH_HEADER = re.compile(
    r"""(?ix)
    (\b(?:proxy-)?authorization\b["']?\s*[:=]\s*["']?)   # the name and separator
    ([^"'\r\n,}]+)                                       # the credentials
    """
)
# A credential in the RFC 9110 §11.4 form `<scheme> <token68>` anywhere else (a body quoting it).
_SCHEME_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}")
# RFC 3986 §3.2.1: userinfo is everything before `@` in the authority; "Use of the format
# user:password in the userinfo field is deprecated" — and still found in configuration.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]+@")
_SPACES = re.compile(r"\s+")


class Scrubber:
    """Known secrets plus the credential patterns; thread-safe, registrations are permanent."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str, *, user: str = "") -> None:
        """Remember `secret`, and with `user` also its HTTP Basic form `base64(user:secret)`."""
        if len(secret) < MIN_SECRET_LENGTH:
            return
        forms = {secret, quote(secret, safe="")}
        if user:
            forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
        with self._lock:
            if forms <= self._secrets:
                return
            self._secrets |= forms
            # Longest first: a secret containing another is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)

    def scrub(self, text: str) -> str:
        """`text` without credentials; everything else, line breaks included, unchanged."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SCHEME_CREDENTIALS.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
        return _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Whitespace runs become one space, other controls visible escapes; cut to `limit` with `…`."""
    # Stricter than `escape.inert` (which keeps unassigned code points), in its spelling:
    # everything `str.isprintable` rejects is shown as an escape, never interpreted — C0/C1
    # controls and ESC, bidi and other format characters (CVE-2021-42574 "Trojan Source"),
    # unassigned and private-use code points.
    return escape.one_line(_SPACES.sub(" ", text[: limit * 8]).strip(), limit)


_DEFAULT = Scrubber()


def default_scrubber() -> Scrubber:
    return _DEFAULT


def register_secret(secret: str, *, user: str = "") -> None:
    """Make `secret` unprintable everywhere this process scrubs (logs, error lines, sinks)."""
    _DEFAULT.register(secret, user=user)


def scrub(text: str) -> str:
    return _DEFAULT.scrub(text)


def outside_detail(text: str | bytes, limit: int = DETAIL_LIMIT) -> str:
    """Text an outside party wrote, made safe to print: scrubbed, one line, inert, short."""
    if isinstance(text, bytes):
        text = text[: limit * 8].decode("utf-8", "replace")
    # Scrub before cutting, so that a cut cannot leave half a secret the patterns no longer see;
    # the input is cut first to a bound (8x) so a megabyte body costs no more than a kilobyte.
    return one_line(scrub(text[: limit * 8]), limit)
