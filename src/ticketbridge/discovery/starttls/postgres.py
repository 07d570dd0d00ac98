"""STARTTLS for PostgreSQL: the SSLRequest message and its one-byte answer."""

from __future__ import annotations

import struct

from ticketbridge.discovery.starttls.common import (
    StartTLSRefused,
)
from ticketbridge.discovery.stream import PlainStream, ProtocolViolation

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
