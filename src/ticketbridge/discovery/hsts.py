"""HSTS evidence: one `HEAD /` over the TLS connection a probe already made, bounded in time and bytes.

No extra connection and one round trip: the request goes out right after the handshake, on
the same socket, within what is left of the handshake timeout. Whatever the server does, the
answer is an `Hsts` value (a policy, its absence, or a classified error), never an exception:
the certificate the probe read stands regardless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ticketbridge.core.hsts import Hsts, HstsError, head_request, host_header, hsts_from_head
from ticketbridge.core.model import Endpoint, Protocol
from ticketbridge.discovery.stream import PeerClosed, PlainStream, ProtocolViolation

if TYPE_CHECKING:  # the TLS engine loads with the probe; `HstsTargets` is read with the config
    from ticketbridge.discovery.tlsengine import ClientTls

HstsMode = Literal["auto", "always", "never"]

# Response heads are a few KiB; cookies can push them towards 16 KiB. Past 64 KiB it is not
# a head worth reading (nginx's large_client_header_buffers default is 4 x 8 KiB).
MAX_HEAD_BYTES = 64 * 1024
_READ_CHUNK = 16384


@dataclass(frozen=True, slots=True)
class HstsTargets:
    """Which endpoints get the `HEAD /`: `[discovery] hsts` and each endpoint's `http` flag,
    keyed by (host, port) as configured."""

    mode: HstsMode = "auto"
    http_on: frozenset[tuple[str, int]] = frozenset()
    http_off: frozenset[tuple[str, int]] = frozenset()

    def wants(self, endpoint: Endpoint) -> bool:
        """SPEC: HTTPS endpoints are TLS on port 443, or `http = true` on the endpoint."""
        if endpoint.protocol is not Protocol.TLS or self.mode == "never":
            return False
        key = (endpoint.host, endpoint.port)
        if self.mode == "always":
            return key not in self.http_off
        return key in self.http_on or (endpoint.port == 443 and key not in self.http_off)


@dataclass(slots=True)
class TlsChannel:
    """The TLS session a probe's handshake left open, over its buffered socket."""

    stream: PlainStream
    tls: ClientTls

    async def flush(self) -> None:
        outgoing = self.tls.take_output()
        if outgoing:
            await self.stream.send(outgoing)

    async def read_head(self) -> bytes:
        """Decrypted bytes up to the blank line that ends a response head."""
        from ticketbridge.discovery.tlsengine import TlsClosed

        received = bytearray()
        while True:
            try:
                decrypted = self.tls.read(_READ_CHUNK)
            except TlsClosed:
                raise PeerClosed("the server closed the connection") from None
            if decrypted is None:
                await self.flush()
                self.tls.feed(await self.stream.recv_some())
                continue
            received += decrypted
            end = _head_end(received)
            if end is not None:
                return bytes(received[:end])
            if len(received) > MAX_HEAD_BYTES:
                raise ProtocolViolation(f"response head larger than {MAX_HEAD_BYTES} bytes")


def _head_end(received: bytearray) -> int | None:
    for terminator in (b"\r\n\r\n", b"\n\n"):
        index = received.find(terminator)
        if index >= 0:
            return index + len(terminator)
    return None


def authority_of(endpoint: Endpoint) -> str:
    """The name the request is for: the SNI sent (the virtual host), else the address."""
    return host_header(endpoint.sni or endpoint.host or endpoint.address, endpoint.port)


async def observe_hsts(channel: TlsChannel, endpoint: Endpoint, deadline: float) -> Hsts:
    """`HEAD /` and its response head, by `deadline` (the event loop's clock); never raises."""
    from ticketbridge.discovery.tlsengine import TlsError

    try:
        async with asyncio.timeout_at(deadline):
            channel.tls.write(head_request(authority_of(endpoint)))
            await channel.flush()
            head = await channel.read_head()
    except TimeoutError:
        return _failed("timeout", "no response head before the handshake timeout ran out")
    except PeerClosed:
        return _failed("reset", "the server closed the connection before a response head")
    except ProtocolViolation as exc:
        return _failed("too_large", str(exc))
    except TlsError as exc:
        return _failed("tls", " ".join(exc.detail.split())[:200])
    except OSError as exc:
        return _failed("reset", exc.strerror or type(exc).__name__)
    return hsts_from_head(head)


def _failed(kind: str, message: str) -> Hsts:
    return Hsts(present=False, error=HstsError(kind, message))
