"""Requests and answers on the wire: exact credentials, the size bounds (one answer, a search's
pages together), content decoding, and whether a failed request can have arrived."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

import requests
import requests.auth
from urllib3.exceptions import ConnectTimeoutError

from ticketbridge.tickets.jira.failures import JiraPermanentError

__all__ = ["MAX_BODY", "ByteBudget", "ExactAuthorization", "decoded", "never_sent", "too_large"]

# No answer ticketbridge asks for is anywhere near this: a larger one is refused, not buffered.
MAX_BODY: Final = 64 * 1024 * 1024


def never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established, so the request cannot have arrived."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError is a subclass


class ExactAuthorization(requests.auth.AuthBase):
    """Exactly this Authorization header, or none: given explicitly, it keeps requests from
    adding credentials of its own from ~/.netrc (which it does when a request has no auth)."""

    def __init__(self, value: str | None) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        if self._value is not None:
            request.headers["Authorization"] = self._value
        return request


class ByteBudget:
    """What a read of several pages (a search) may still hold, in answer bytes: each page is
    bounded by MAX_BODY, and this bounds their sum, whatever the pages claim about progress."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total


def too_large(budget: ByteBudget | None, what: str) -> Exception:
    if budget is not None and budget.left < MAX_BODY:
        # Pages that each fit, adding up past what one search may hold: a server whose
        # "next page" never ends, or a project far beyond what ticketbridge serves.
        return JiraPermanentError(
            f"{what}: unexpected answer from Jira: its pages add up to more than "
            f"{budget.total:,} bytes"
        )
    return requests.exceptions.ContentDecodingError(f"more than {MAX_BODY:,} bytes")


def decoded(
    headers: Mapping[str, str],
    body: bytes,
    *,
    what: str,
    cap: int = MAX_BODY,
    budget: ByteBudget | None = None,
) -> bytes:
    """The body with its Content-Encoding (gzip or deflate) undone, at most `cap` bytes."""
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise requests.exceptions.ContentDecodingError(f"{what}: unsupported encoding {encoding}")
    # gzip: a gzip header (wbits 16+); deflate: zlib-wrapped, or raw as some servers send it.
    attempts = (16 + zlib.MAX_WBITS,) if "gzip" in encoding else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        decoder = zlib.decompressobj(wbits)
        try:
            out = decoder.decompress(body, cap)
        except zlib.error:
            continue
        if decoder.unconsumed_tail:
            raise too_large(budget, what)
        return out
    raise requests.exceptions.ContentDecodingError(f"{what}: the body does not decode")
