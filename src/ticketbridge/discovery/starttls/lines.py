"""STARTTLS for the line-based protocols: SMTP and FTP (numeric replies), IMAP and POP3."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ticketbridge.discovery.starttls.common import (
    LINE_LIMIT,
    MAX_REPLY_LINES,
    StartTLSRefused,
    quote,
)
from ticketbridge.discovery.stream import PlainStream, ProtocolViolation

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
