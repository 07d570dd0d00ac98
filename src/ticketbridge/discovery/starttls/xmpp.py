"""STARTTLS for XMPP: the stream header, its features and `<starttls/>` (RFC 6120)."""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress

from ticketbridge.discovery.starttls.common import (
    LINE_LIMIT,
    StartTLSRefused,
    quote,
)
from ticketbridge.discovery.stream import PeerClosed, PlainStream, ProtocolViolation

# --- XMPP --------------------------------------------------------------------------------------

XMPP_FEATURES_LIMIT = 65536
# Any stream prefix, though every server in use writes `stream:`; the features are either closed
# (`</stream:features>`) or empty (`<stream:features/>`), and a `</stream:stream>` ends everything.
XMPP_FEATURES_END = re.compile(rb"</[\w.-]+:features\s*>|<[\w.-]+:features\s*/>")
XMPP_FEATURES_START = re.compile(rb"<[\w.-]+:features[\s>/]")
XMPP_STREAM_END = re.compile(rb"</[\w.-]+:stream\s*>")
XMPP_STREAM_ERROR = re.compile(rb"<[\w.-]+:error[\s>/]")
XMPP_STREAM_ERROR_GRACE = 1.0
XMPP_ERROR_END = re.compile(rb"</[\w.-]+:(?:error|stream)\s*>")
XMPP_TLS_NS = b"urn:ietf:params:xml:ns:xmpp-tls"


def xml_attribute(text: str) -> str:
    """`text` escaped for an attribute value between single quotes."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


async def read_xml_tag(stream: PlainStream, limit: int) -> bytes:
    """Bytes up to and including the next `>`: the server's XML one tag (and its text) at a time."""
    return await stream.read_until(b">", limit)


async def read_xmpp_stream_error(stream: PlainStream, limit: int) -> bytes:
    """The rest of a `<stream:error>`: its condition element names the reason (RFC 6120 §4.9.3).

    The server closes the stream right after it, so a short grace period bounds the wait for a
    server that does not, and a refusal never turns into the caller's timeout.
    """
    error = bytearray()
    with suppress(PeerClosed, ProtocolViolation, TimeoutError):
        async with asyncio.timeout(XMPP_STREAM_ERROR_GRACE):
            while len(error) < limit:
                piece = await read_xml_tag(stream, limit)
                error += piece
                if XMPP_ERROR_END.search(piece):
                    break
    return bytes(error)


async def read_xmpp_features(stream: PlainStream) -> bytes:
    """The server's `<stream:features>` element, read one tag at a time and bounded.

    Simple bounded substring checks, never an XML parser: the input is hostile, and nothing
    here needs more than "does the server offer STARTTLS".
    """
    received = bytearray()
    while len(received) <= XMPP_FEATURES_LIMIT:
        # Each marker holds no `>` but its last byte, so it lies wholly within one piece:
        # searching only the piece keeps a server sending `>>>>` from costing quadratic time.
        piece = await read_xml_tag(stream, XMPP_FEATURES_LIMIT)
        received += piece
        stream_error = XMPP_STREAM_ERROR.search(piece)
        if stream_error:
            error = piece[stream_error.start() :]
            error += await read_xmpp_stream_error(stream, XMPP_FEATURES_LIMIT - len(received))
            raise StartTLSRefused(f"XMPP server closed the stream: {quote(error)}")
        if XMPP_STREAM_END.search(piece):
            raise StartTLSRefused(f"XMPP server closed the stream: {quote(bytes(received))}")
        if XMPP_FEATURES_END.search(piece):
            start = XMPP_FEATURES_START.search(received)
            return bytes(received[start.start() :]) if start else bytes(received)
    raise ProtocolViolation(f"XMPP stream features longer than {XMPP_FEATURES_LIMIT} bytes")


async def xmpp_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 6120 §5.4: stream header, features with <starttls/>, <starttls/>, <proceed/>."""
    header = (
        "<?xml version='1.0'?><stream:stream to='" + xml_attribute(server_name) + "'"
        " version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    await stream.send(header.encode("utf-8"))
    features = await read_xmpp_features(stream)
    if b"<starttls" not in features:
        raise StartTLSRefused(f"XMPP server does not offer STARTTLS: {quote(features)}")
    await stream.send(b"<starttls xmlns='" + XMPP_TLS_NS + b"'/>")
    answer = (await read_xml_tag(stream, LINE_LIMIT)).lstrip()
    if answer.startswith(b"<failure"):
        raise StartTLSRefused(f"XMPP server answered <starttls/> with {quote(answer)}")
    if not answer.startswith(b"<proceed"):
        raise ProtocolViolation(f"XMPP server answered <starttls/> with {quote(answer)}")
    if not answer.endswith(b"/>"):
        await stream.read_until(b"</proceed>", LINE_LIMIT)
