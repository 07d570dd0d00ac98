"""STARTTLS: the plaintext dialogues that upgrade SMTP, IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP.

`negotiate` leaves the socket exactly where the client's ClientHello must be the next bytes on
the wire; the caller then runs the TLS handshake on the same socket. Everything the server says
is hostile input: every read is bounded (the stream's byte budget, line and reply limits), and
nothing is parsed beyond what deciding "proceed" or "refused" needs.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from ticketbridge.core.model import Protocol
from ticketbridge.discovery.stream import PeerClosed, PlainStream, ProtocolViolation
from ticketbridge.infra.escape import escape_char

__all__ = ["StartTLSRefused", "negotiate"]

# A reply longer than this is not a greeting: real servers stay far below it (RFC 5321 allows 512
# octets per SMTP reply line), and the cap keeps one hostile line from costing the whole budget.
LINE_LIMIT = 4096
# Lines in one multi-line reply, and untagged IMAP lines skipped while waiting for the tagged one.
MAX_REPLY_LINES = 200
QUOTE_LIMIT = 200


class StartTLSRefused(ProtocolViolation):
    """The server answered, but would not start TLS (or offered no way to)."""


async def negotiate(protocol: Protocol, stream: PlainStream, server_name: str) -> None:
    """Run `protocol`'s plaintext dialogue until the server waits for the client's ClientHello.

    Raises StartTLSRefused when the server declines, ProtocolViolation on garbage or oversized
    input; PeerClosed and OSError propagate.
    """
    dialogue = DIALOGUES.get(protocol)
    if dialogue is None:
        raise ValueError(f"{protocol.value} has no STARTTLS dialogue")
    await dialogue(stream, server_name)
    # Bytes the server sent after agreeing to TLS but before seeing our ClientHello would be read
    # by the TLS layer as if they came from inside the secure channel: the response-injection
    # attack of CVE-2011-0411 (and, for PostgreSQL, CVE-2021-23222). No honest server sends them.
    early = stream.take_buffered()
    if early:
        raise ProtocolViolation(
            f"{protocol.value} server sent {len(early)} bytes before the TLS handshake: "
            f"{quote(early)}"
        )


def quote(data: bytes | str, limit: int = QUOTE_LIMIT) -> str:
    """Server text made safe for logs and messages: control characters escaped, truncated."""
    text = data.decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data
    text = text.rstrip("\r\n")
    escaped = "".join(char if char.isprintable() else escape_char(char) for char in text[:limit])
    if len(escaped) > limit or len(text) > limit:
        return escaped[:limit] + "…"
    return escaped


# --- SMTP and FTP: numeric replies -------------------------------------------------------------

REPLY_FIRST_LINE = re.compile(rb"^([0-9]{3})([ -]|\r?\n$)")


@dataclass(frozen=True, slots=True)
class NumericReply:
    """One (possibly multi-line) SMTP or FTP reply."""

    code: int
    lines: tuple[bytes, ...]

    @property
    def text(self) -> bytes:
        return b" | ".join(line.rstrip(b"\r\n") for line in self.lines)


async def read_numeric_reply(stream: PlainStream, protocol: str, *, strict: bool) -> NumericReply:
    """Read one reply: `ddd-` lines continue it, `ddd ` (or a bare `ddd`) ends it.

    `strict` (SMTP, RFC 5321 §4.2.1) requires every continuation line to carry the code; FTP
    (RFC 959 §4.2) lets the lines between the first and the last say anything.
    """
    first = await stream.readline(LINE_LIMIT)
    match = REPLY_FIRST_LINE.match(first)
    if match is None:
        raise ProtocolViolation(f"{protocol} server sent no numeric reply: {quote(first)}")
    code = match.group(1)
    lines = [first]
    multiline = match.group(2) == b"-"
    while multiline:
        if len(lines) >= MAX_REPLY_LINES:
            raise ProtocolViolation(f"{protocol} reply longer than {MAX_REPLY_LINES} lines")
        line = await stream.readline(LINE_LIMIT)
        lines.append(line)
        if line.startswith(code + b"-"):
            continue
        if line.startswith(code + b" ") or line.rstrip(b"\r\n") == code:
            multiline = False
        elif strict:
            raise ProtocolViolation(f"{protocol} reply continued with {quote(line)}")
    return NumericReply(int(code), tuple(lines))


async def smtp_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 3207: greeting 220, EHLO, STARTTLS among the keywords, STARTTLS, 220."""
    greeting = await read_numeric_reply(stream, "SMTP", strict=True)
    if greeting.code != 220:
        raise StartTLSRefused(f"SMTP server refused the session: {quote(greeting.text)}")
    await stream.send(b"EHLO " + client_address_literal(stream).encode("ascii") + b"\r\n")
    ehlo = await read_numeric_reply(stream, "SMTP", strict=True)
    if ehlo.code != 250:
        raise StartTLSRefused(f"SMTP server answered EHLO with {quote(ehlo.text)}")
    if b"STARTTLS" not in ehlo_keywords(ehlo):
        raise StartTLSRefused(f"SMTP server does not offer STARTTLS: {quote(ehlo.text)}")
    await stream.send(b"STARTTLS\r\n")
    answer = await read_numeric_reply(stream, "SMTP", strict=True)
    if answer.code != 220:
        raise StartTLSRefused(f"SMTP server answered STARTTLS with {quote(answer.text)}")


def ehlo_keywords(ehlo: NumericReply) -> set[bytes]:
    """The extension keywords of an EHLO reply: the first word of every line after the first,
    which names the server (RFC 5321 §4.1.1.1)."""
    words = (line[4:].split(maxsplit=1) for line in ehlo.lines[1:])
    return {first[0].upper() for first in words if first}


def client_address_literal(stream: PlainStream) -> str:
    """Our side's address as an RFC 5321 address literal, the EHLO argument for a client
    with no meaningful domain name of its own (§4.1.4); resolving our own name could block."""
    address = str(stream.socket.getsockname()[0]).split("%", 1)[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


async def ftp_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 4217: greeting 220 (a 120 "ready in n minutes" may precede it), AUTH TLS, 234."""
    greeting = await read_numeric_reply(stream, "FTP", strict=False)
    if greeting.code == 120:
        greeting = await read_numeric_reply(stream, "FTP", strict=False)
    if greeting.code != 220:
        raise StartTLSRefused(f"FTP server refused the session: {quote(greeting.text)}")
    await stream.send(b"AUTH TLS\r\n")
    answer = await read_numeric_reply(stream, "FTP", strict=False)
    if answer.code != 234:
        raise StartTLSRefused(f"FTP server answered AUTH TLS with {quote(answer.text)}")


# --- IMAP and POP3 -----------------------------------------------------------------------------

IMAP_TAG = b"a001"
IMAP_LITERAL = re.compile(rb"\{([0-9]{1,6})\+?\}\r?\n$")
IMAP_LITERAL_LIMIT = 65536


async def imap_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 9051 §6.2.1: `* OK` greeting, `a001 STARTTLS`, untagged lines skipped, `a001 OK`."""
    greeting = await stream.readline(LINE_LIMIT)
    status = imap_status(greeting, b"*")
    if status in (b"PREAUTH", b"BYE"):
        # PREAUTH puts the session in the authenticated state, where STARTTLS is not allowed.
        raise StartTLSRefused(f"IMAP server greeted with {quote(greeting)}")
    if status != b"OK":
        raise ProtocolViolation(f"IMAP server sent no greeting: {quote(greeting)}")
    await stream.send(IMAP_TAG + b" STARTTLS\r\n")
    for _ in range(MAX_REPLY_LINES):
        line = await read_imap_response(stream)
        if line.startswith(b"* "):
            if imap_status(line, b"*") == b"BYE":
                raise StartTLSRefused(f"IMAP server answered STARTTLS with {quote(line)}")
            continue
        status = imap_status(line, IMAP_TAG)
        if status == b"OK":
            return
        if status in (b"NO", b"BAD"):
            raise StartTLSRefused(f"IMAP server answered STARTTLS with {quote(line)}")
        raise ProtocolViolation(f"IMAP server answered STARTTLS with {quote(line)}")
    raise ProtocolViolation(f"IMAP server sent {MAX_REPLY_LINES} untagged lines and no answer")


def imap_status(line: bytes, tag: bytes) -> bytes | None:
    """The status word (`OK`, `NO`, `BAD`, `BYE`, `PREAUTH`) of a response carrying `tag`."""
    words = line.split(maxsplit=2)
    if len(words) < 2 or words[0].upper() != tag.upper():
        return None
    return words[1].upper()


async def read_imap_response(stream: PlainStream) -> bytes:
    """One response line; literals (`{n}` then n raw bytes) inside it are skipped, bounded."""
    line = await stream.readline(LINE_LIMIT)
    for _ in range(MAX_REPLY_LINES):
        literal = IMAP_LITERAL.search(line)
        if literal is None:
            return line
        size = int(literal.group(1))
        if size > IMAP_LITERAL_LIMIT:
            raise ProtocolViolation(f"IMAP literal of {size} bytes before STARTTLS")
        await stream.read_exactly(size)
        line = line[: literal.start()] + await stream.readline(LINE_LIMIT)
    raise ProtocolViolation("IMAP response with too many literals")


async def pop3_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 2595 §4: `+OK` greeting, STLS, `+OK`."""
    greeting = await stream.readline(LINE_LIMIT)
    if greeting.startswith(b"-ERR"):
        raise StartTLSRefused(f"POP3 server refused the session: {quote(greeting)}")
    if not greeting.startswith(b"+OK"):
        raise ProtocolViolation(f"POP3 server sent no greeting: {quote(greeting)}")
    await stream.send(b"STLS\r\n")
    answer = await stream.readline(LINE_LIMIT)
    if answer.startswith(b"-ERR"):
        raise StartTLSRefused(f"POP3 server answered STLS with {quote(answer)}")
    if not answer.startswith(b"+OK"):
        raise ProtocolViolation(f"POP3 server answered STLS with {quote(answer)}")


# --- PostgreSQL --------------------------------------------------------------------------------

# Protocol version 1234.5679: the SSLRequest code (PostgreSQL protocol, "Message Formats").
POSTGRES_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


async def postgres_dialogue(stream: PlainStream, server_name: str) -> None:
    """SSLRequest; one byte back: `S` to proceed, `N` when the server has SSL turned off."""
    await stream.send(POSTGRES_SSL_REQUEST)
    answer = await stream.read_exactly(1)
    if answer == b"N":
        raise StartTLSRefused("PostgreSQL server answered SSLRequest with 'N': SSL is off")
    if answer != b"S":
        # 'E' is an ErrorResponse from a server too old to know SSLRequest; anything else is noise.
        raise ProtocolViolation(f"PostgreSQL server answered SSLRequest with {answer!r}")


# --- LDAP --------------------------------------------------------------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
LDAP_MESSAGE_ID = 1
LDAP_MESSAGE_LIMIT = 16384

BER_SEQUENCE = 0x30
BER_INTEGER = 0x02
BER_ENUMERATED = 0x0A
BER_OCTET_STRING = 0x04
LDAP_EXTENDED_REQUEST = 0x77  # [APPLICATION 23] constructed
LDAP_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24] constructed
LDAP_REQUEST_NAME = 0x80  # [0] primitive

LDAP_RESULT_NAMES = {
    1: "operationsError",
    2: "protocolError",
    3: "timeLimitExceeded",
    7: "authMethodNotSupported",
    8: "strongerAuthRequired",
    12: "unavailableCriticalExtension",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


def ber_tlv(tag: int, value: bytes) -> bytes:
    """A BER element with a definite length (RFC 4511 §5.1 forbids the indefinite form)."""
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    length = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


LDAP_STARTTLS_REQUEST = ber_tlv(
    BER_SEQUENCE,
    ber_tlv(BER_INTEGER, bytes([LDAP_MESSAGE_ID]))
    + ber_tlv(LDAP_EXTENDED_REQUEST, ber_tlv(LDAP_REQUEST_NAME, LDAP_STARTTLS_OID)),
)


class BerReader:
    """Reads definite-length, low-tag-number BER elements out of one received message."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def element(self, expected_tag: int) -> bytes:
        """The value of the next element, which must carry `expected_tag`."""
        if self._offset + 2 > len(self._data):
            raise ProtocolViolation("LDAP response truncated")
        tag = self._data[self._offset]
        if tag != expected_tag:
            raise ProtocolViolation(
                f"LDAP response has tag 0x{tag:02x} where 0x{expected_tag:02x} belongs"
            )
        length, header = ber_length(self._data[self._offset + 1 : self._offset + 6])
        start = self._offset + 1 + header
        if start + length > len(self._data):
            raise ProtocolViolation("LDAP response element overruns the message")
        self._offset = start + length
        return self._data[start : self._offset]

    def integer(self, expected_tag: int) -> int:
        value = self.element(expected_tag)
        if not 1 <= len(value) <= 4:
            raise ProtocolViolation(f"LDAP integer of {len(value)} bytes")
        return int.from_bytes(value, "big", signed=True)


def ber_length(octets: bytes) -> tuple[int, int]:
    """(length, octets used) of the BER length starting `octets`; at most 4 length bytes."""
    if not octets:
        raise ProtocolViolation("LDAP response truncated")
    first = octets[0]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    if count == 0:
        raise ProtocolViolation("LDAP response uses an indefinite length")
    if count > 4 or len(octets) < 1 + count:
        raise ProtocolViolation("LDAP response length is malformed")
    return int.from_bytes(octets[1 : 1 + count], "big"), 1 + count


async def read_ldap_message(stream: PlainStream) -> bytes:
    """One whole LDAPMessage SEQUENCE's contents, refusing anything over the size limit."""
    tag = await stream.read_exactly(1)
    if tag[0] != BER_SEQUENCE:
        raise ProtocolViolation(f"LDAP server sent {quote(tag)} where an LDAPMessage belongs")
    first = await stream.read_exactly(1)
    extra = first[0] & 0x7F if first[0] >= 0x80 else 0
    length, _ = ber_length(first + await stream.read_exactly(extra))
    if length > LDAP_MESSAGE_LIMIT:
        raise ProtocolViolation(f"LDAP response of {length} bytes")
    return await stream.read_exactly(length)


async def ldap_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 4511 §4.14: StartTLS ExtendedRequest; resultCode 0 in the ExtendedResponse to proceed."""
    await stream.send(LDAP_STARTTLS_REQUEST)
    message = BerReader(await read_ldap_message(stream))
    message_id = message.integer(BER_INTEGER)
    # messageID 0 is an unsolicited notification: the Notice of Disconnection (§4.4.1).
    if message_id not in (0, LDAP_MESSAGE_ID):
        raise ProtocolViolation(f"LDAP response to messageID {message_id}, not {LDAP_MESSAGE_ID}")
    response = BerReader(message.element(LDAP_EXTENDED_RESPONSE))
    result_code = response.integer(BER_ENUMERATED)
    response.element(BER_OCTET_STRING)  # matchedDN
    diagnostic = response.element(BER_OCTET_STRING)
    if message_id == LDAP_MESSAGE_ID and result_code == 0:
        return
    name = LDAP_RESULT_NAMES.get(result_code, "unknown")
    what = "disconnected" if message_id == 0 else "refused StartTLS"
    raise StartTLSRefused(
        f"LDAP server {what}: resultCode {result_code} ({name}) {quote(diagnostic)}".rstrip()
    )


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


DIALOGUES: dict[Protocol, Callable[[PlainStream, str], Awaitable[None]]] = {
    Protocol.SMTP: smtp_dialogue,
    Protocol.IMAP: imap_dialogue,
    Protocol.POP3: pop3_dialogue,
    Protocol.FTP: ftp_dialogue,
    Protocol.POSTGRES: postgres_dialogue,
    Protocol.LDAP: ldap_dialogue,
    Protocol.XMPP: xmpp_dialogue,
}
