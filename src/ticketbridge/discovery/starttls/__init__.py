"""STARTTLS: the plaintext dialogues that upgrade SMTP, IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP.

`negotiate` leaves the socket exactly where the client's ClientHello must be the next bytes on
the wire; the caller then runs the TLS handshake on the same socket. Everything the server says
is hostile input: every read is bounded (the stream's byte budget, line and reply limits), and
nothing is parsed beyond what deciding "proceed" or "refused" needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ticketbridge.core.model import Protocol
from ticketbridge.discovery.starttls.common import StartTLSRefused, quote
from ticketbridge.discovery.starttls.ldap import ldap_dialogue
from ticketbridge.discovery.starttls.lines import (
    ftp_dialogue,
    imap_dialogue,
    pop3_dialogue,
    smtp_dialogue,
)
from ticketbridge.discovery.starttls.postgres import postgres_dialogue
from ticketbridge.discovery.starttls.xmpp import xmpp_dialogue
from ticketbridge.discovery.stream import PlainStream, ProtocolViolation

__all__ = ["StartTLSRefused", "negotiate", "quote"]

DIALOGUES: dict[Protocol, Callable[[PlainStream, str], Awaitable[None]]] = {
    Protocol.SMTP: smtp_dialogue,
    Protocol.IMAP: imap_dialogue,
    Protocol.POP3: pop3_dialogue,
    Protocol.FTP: ftp_dialogue,
    Protocol.POSTGRES: postgres_dialogue,
    Protocol.LDAP: ldap_dialogue,
    Protocol.XMPP: xmpp_dialogue,
}


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
