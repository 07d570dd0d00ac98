"""Answers off the wire: the size bounds (one answer, a search's pages together), content decoding."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

import requests

from ticketbridge.tickets.jira.failures import JiraPermanentError

__all__ = ["MAX_BODY", "ByteBudget", "decoded", "too_large"]

# No answer ticketbridge asks for is anywhere near this: a larger one is refused, not buffered.
MAX_BODY: Final = 64 * 1024 * 1024


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
