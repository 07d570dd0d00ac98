"""One TLS probe of one endpoint, and many of them with bounded concurrency.

Each probe connects a non-blocking socket, optionally runs a STARTTLS preamble, and pumps the TLS
handshake through memory buffers (discovery/tlsengine.py). Certificates are never verified during the handshake: the facts
are read as served and the verdict is computed afterwards from the same bytes. Probed many at a
time (`probe_all`), an endpoint that speaks TLS at once at an address literal has its handshake
driven by discovery/handshakes.py instead of asyncio's sockets, with the same outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ticketbridge.core.hsts import Hsts
from ticketbridge.core.model import (
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    Protocol,
    Verification,
    Verifier,
    is_ip_literal,
)
from ticketbridge.core.x509facts import CertificateParseError, facts_from_der
from ticketbridge.discovery.fdlimit import (
    LOCAL_LIMIT_ERRNOS,
    connection_budget,
    local_limit_error,
)
from ticketbridge.discovery.handshakes import ClosedAfter, DirectHandshakes, HandshakeTimeout
from ticketbridge.discovery.hsts import HstsTargets, TlsChannel, observe_hsts
from ticketbridge.discovery.servedpaths import path_facts
from ticketbridge.discovery.stream import PeerClosed, PlainStream, ProtocolViolation
from ticketbridge.discovery.tlsengine import ClientTls, TlsError
from ticketbridge.errors import LocalLimitError
from ticketbridge.infra.clock import utcnow_seconds

# A 100-certificate chain is about 100 KiB; OpenSSL refuses certificate lists above 100 KiB anyway.
# Anything past 1 MiB before the handshake completes is a server streaming garbage at us.
MAX_HANDSHAKE_BYTES = 1 << 20
_RECV_CHUNK = 16384
# Out of descriptors: wait for other probes to close theirs, then give up on the run (seconds).
_FD_RETRY_PAUSES = (0.05, 0.2, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    connect_timeout: float = 5.0
    handshake_timeout: float = 10.0
    max_handshake_bytes: int = MAX_HANDSHAKE_BYTES
    hsts: HstsTargets = field(default_factory=HstsTargets)


class ProbeFailure(Exception):
    """A classified reason an endpoint yielded no certificate."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


async def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    family = socket.AF_INET6 if ":" in endpoint.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if family == socket.AF_INET and is_ip_literal(endpoint.address):
            await _connect_ipv4(sock, (endpoint.address, endpoint.port), timeout)
        else:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(
                    sock, (endpoint.address, endpoint.port)
                )
    except TimeoutError:
        sock.close()
        raise _connect_timed_out(timeout) from None
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect_ipv4(sock: socket.socket, address: tuple[str, int], timeout: float) -> None:
    """`loop.sock_connect` for an IPv4 literal, without its address resolution and layered
    callbacks (in the profile, more Python time than the connect itself). The errors are the
    ones it raises, message included."""
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    loop = asyncio.get_running_loop()
    writable: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, _settle, writable)
    try:
        async with asyncio.timeout(timeout):
            await writable
    finally:
        loop.remove_writer(fd)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error != 0:
        raise OSError(error, f"Connect call failed {address}")


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # writable in the same turn the timeout cancelled it
        waiter.set_result(None)


async def _handshake(stream: PlainStream, server_name: str | None) -> TlsChannel:
    tls = ClientTls.start(server_name)
    pending = stream.take_buffered()
    if pending:
        tls.feed(pending)
    while not tls.handshake():
        outgoing = tls.take_output()
        if outgoing:
            await stream.send(outgoing)
        tls.feed(await stream.recv_some())
    finished = tls.take_output()  # the client Finished: polite, and some servers log its absence
    if finished:
        await stream.send(finished)
    return TlsChannel(stream, tls)


def _server_name(endpoint: Endpoint) -> str | None:
    """SNI: the configured name, but never an IP literal (RFC 6066 forbids it)."""
    name = endpoint.sni
    if not name or is_ip_literal(name):
        return None
    return name.rstrip(".")


async def _negotiate_starttls(endpoint: Endpoint, stream: PlainStream) -> None:
    from ticketbridge.discovery.starttls import negotiate

    await negotiate(endpoint.protocol, stream, endpoint.sni or endpoint.host)


async def _fetch_chain(
    endpoint: Endpoint, server_name: str | None, options: ProbeOptions
) -> tuple[list[bytes], Hsts | None]:
    sock = await _connect(endpoint, options.connect_timeout)
    stream = PlainStream(sock, budget=options.max_handshake_bytes)
    # The HSTS request, when there is one, shares what is left of the handshake timeout.
    deadline = asyncio.get_running_loop().time() + options.handshake_timeout
    try:
        try:
            async with asyncio.timeout_at(deadline):
                if endpoint.protocol is not Protocol.TLS:
                    await _negotiate_starttls(endpoint, stream)
                channel = await _handshake(stream, server_name)
                chain = channel.tls.served_chain_der()
        except TimeoutError:
            raise _handshake_timed_out(endpoint, options, stream.bytes_read) from None
        except PeerClosed:
            raise _closed_early(endpoint, stream.bytes_read) from None
        if chain and options.hsts.wants(endpoint):
            return chain, await observe_hsts(channel, endpoint, deadline)
        return chain, None
    finally:
        stream.close()
        sock.close()


def _connect_timed_out(timeout: float) -> ProbeFailure:
    return ProbeFailure(ErrorKind.TIMEOUT, f"connect timed out after {timeout:g}s")


def _handshake_timed_out(endpoint: Endpoint, options: ProbeOptions, received: int) -> ProbeFailure:
    phase = "handshake" if endpoint.protocol is Protocol.TLS else "STARTTLS or handshake"
    return ProbeFailure(
        ErrorKind.TIMEOUT,
        f"{phase} timed out after {options.handshake_timeout:g}s ({received} bytes received)",
    )


def _closed_early(endpoint: Endpoint, received: int) -> ProbeFailure:
    return ProbeFailure(
        ErrorKind.HANDSHAKE
        if received or endpoint.protocol is not Protocol.TLS
        else ErrorKind.RESET,
        f"connection closed by the server after {received} bytes",
    )


async def _fetch_direct(
    handshakes: DirectHandshakes, endpoint: Endpoint, server_name: str | None, options: ProbeOptions
) -> list[bytes]:
    """`_fetch_chain` for an endpoint `handshakes` serves: the same outcomes, less CPU."""
    try:
        return await handshakes.fetch(endpoint, server_name)
    except HandshakeTimeout as exc:
        if exc.connecting:
            raise _connect_timed_out(options.connect_timeout) from None
        raise _handshake_timed_out(endpoint, options, exc.bytes_read) from None
    except ClosedAfter as exc:
        raise _closed_early(endpoint, exc.bytes_read) from None


async def _fetch_chain_when_descriptors_allow(
    endpoint: Endpoint,
    server_name: str | None,
    options: ProbeOptions,
    handshakes: DirectHandshakes | None,
) -> tuple[list[bytes], Hsts | None]:
    """`_fetch_chain`, waiting out a momentary lack of descriptors; a lasting one stops the run."""
    if handshakes is not None and (not handshakes.serves(endpoint) or options.hsts.wants(endpoint)):
        handshakes = None  # asyncio's path: STARTTLS, HSTS, a name still to resolve
    for pause in (*_FD_RETRY_PAUSES, None):
        try:
            if handshakes is not None:
                return await _fetch_direct(handshakes, endpoint, server_name, options), None
            return await _fetch_chain(endpoint, server_name, options)
        except OSError as exc:
            if exc.errno not in LOCAL_LIMIT_ERRNOS:
                raise
            if pause is None:
                raise local_limit_error(exc) from None
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNEXPECTED_RECORD",
        "RECORD_LENGTH_MISMATCH",
        "BAD_PACKET_LENGTH",
        "UNEXPECTED_MESSAGE",
        "BAD_RECORD_TYPE",
        "LENGTH_MISMATCH",
    }
)


def classify(exc: BaseException) -> ProbeFailure:
    """Map whatever a probe raised onto SPEC's error kinds, with a one-line message."""
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, TlsError):
        reason = exc.reason
        detail = " ".join(exc.detail.split())
        if reason in _NOT_TLS_REASONS:
            return ProbeFailure(ErrorKind.PROTOCOL, f"the server does not speak TLS here: {detail}")
        if "EXCESSIVE_MESSAGE_SIZE" in reason:
            return ProbeFailure(ErrorKind.HANDSHAKE, f"certificate list too large: {detail}")
        return ProbeFailure(ErrorKind.HANDSHAKE, detail)
    if isinstance(exc, ProtocolViolation):
        return ProbeFailure(ErrorKind.PROTOCOL, str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return ProbeFailure(ErrorKind.REFUSED, "connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ProbeFailure(ErrorKind.RESET, "connection reset by the server")
    if isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return ProbeFailure(ErrorKind.UNREACHABLE, exc.strerror or str(exc))
        if exc.errno == errno.ETIMEDOUT:
            return ProbeFailure(ErrorKind.TIMEOUT, "connect timed out")
        return ProbeFailure(ErrorKind.REFUSED, exc.strerror or str(exc))
    if isinstance(exc, CertificateParseError):
        return ProbeFailure(ErrorKind.PROTOCOL, f"served certificate unreadable: {exc}")
    return ProbeFailure(ErrorKind.HANDSHAKE, f"{type(exc).__name__}: {exc}")


async def probe(
    endpoint: Endpoint,
    options: ProbeOptions,
    verifier: Verifier | None = None,
    clock: Callable[[], datetime] = utcnow_seconds,
    handshakes: DirectHandshakes | None = None,
) -> Observation:
    """Probe one endpoint; never raises for anything the server does. `handshakes`, when given,
    takes the endpoints it serves (probe_all's many at a time)."""
    observed_at = clock()
    server_name = _server_name(endpoint)
    try:
        chain_der, hsts = await _fetch_chain_when_descriptors_allow(
            endpoint, server_name, options, handshakes
        )
        if not chain_der:
            raise ProbeFailure(ErrorKind.HANDSHAKE, "the server sent no certificate")
        chain = tuple(facts_from_der(der) for der in chain_der)
    except (asyncio.CancelledError, LocalLimitError):
        raise  # a limit of this machine is not a fact about the endpoint
    except Exception as exc:  # noqa: BLE001 - a failed probe is data, never an exception
        failure = classify(exc)
        return Observation(
            endpoint=endpoint,
            observed_at=observed_at,
            status="error",
            error=ProbeError(kind=failure.kind, message=failure.message[:500]),
        )
    verification = None
    if verifier is not None:
        verification = await _verdict_beside_handshakes(
            verifier, chain_der, server_name or endpoint.address, observed_at
        )
    paths = path_facts(chain_der, chain, verifier)
    return Observation(
        endpoint=endpoint,
        observed_at=observed_at,
        status="ok",
        certificate=chain[0],
        chain=chain,
        effective_not_after=paths.effective_not_after,
        verification=verification,
        validated_path_not_after=paths.validated_path_not_after,
        strays=paths.strays,
        hsts=hsts,
    )


# A served chain this large may carry thousands of names and name constraints: its verdict runs
# in a thread, so the event loop keeps driving the other endpoints' handshakes meanwhile.
VERDICT_INLINE_BYTES = 32 * 1024


async def _verdict_beside_handshakes(
    verifier: Verifier, chain_der: Sequence[bytes], name: str, observed_at: datetime
) -> Verification:
    if sum(map(len, chain_der)) <= VERDICT_INLINE_BYTES:
        return verifier.verdict(chain_der, name, observed_at)
    return await asyncio.to_thread(verifier.verdict, chain_der, name, observed_at)


async def probe_all(
    endpoints: Iterable[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: Verifier | None = None,
    clock: Callable[[], datetime] = utcnow_seconds,
) -> AsyncIterator[Observation]:
    """Yield one observation per endpoint, at most `concurrency` connections in flight.

    A fixed pool of workers pulls from the endpoint iterator, so memory stays proportional to the
    concurrency, not to the number of endpoints. The concurrency is capped by the open-file
    limit; running out of descriptors anyway raises `LocalLimitError`.
    """
    source = iter(endpoints)
    results: asyncio.Queue[Observation | None] = asyncio.Queue()
    stopped: list[LocalLimitError] = []

    handshakes: DirectHandshakes | None = None
    # Its epoll descriptor is one more; without it every probe takes the general path, which
    # tells a lack of descriptors apart from the endpoints' faults.
    with contextlib.suppress(OSError):
        handshakes = DirectHandshakes(
            options.connect_timeout, options.handshake_timeout, options.max_handshake_bytes
        )

    async def worker() -> None:
        try:
            for endpoint in source:
                await results.put(await probe(endpoint, options, verifier, clock, handshakes))
        except LocalLimitError as exc:
            stopped.append(exc)
        finally:
            await results.put(None)

    budget = connection_budget(max(1, concurrency))
    workers = [asyncio.create_task(worker()) for _ in range(budget)]
    running = len(workers)
    try:
        while running:
            item = await results.get()
            if stopped:
                raise stopped[0]
            if item is None:
                running -= 1
            else:
                yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if handshakes is not None:
            handshakes.close()
