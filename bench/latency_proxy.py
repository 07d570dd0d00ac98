"""A latency-injecting TCP proxy for loopback benchmarks: every chunk is held `delay` seconds each way.

The kernel here has no netem, so the WAN benchmark puts this proxy between the scanner and nginx.
It is written at the asyncio Protocol level so that the proxy costs as little CPU as possible (it
shares the machine with the scanner under test): each accepted connection gets its own upstream
connection, and every chunk received on either side is handed to `loop.call_at(arrival + delay)`
for delivery to the other side. No task or buffer sits between arrival and delivery, so chunks in
flight overlap (a pipe, not a stop-and-wait link), and connections never wait on one another.
Deadlines are kept strictly increasing per direction, so the timer heap delivers chunks in order.
End of stream and close are forwarded with the same delay. There is no flow control: the
benchmark moves TLS handshakes (a few KiB per connection), not bulk data.

With `delay` = 50 ms a request/response exchange costs 100 ms, like a 100 ms round trip. The TCP
handshake itself is not delayed (the kernel completes it before the proxy accepts), so one probe
costs one simulated round trip per TLS flight, not the extra one a real SYN/SYN-ACK would add.

`--stats FILE` writes, on SIGTERM or SIGINT, how many connections were served, the most open at
once, and how late chunks were delivered relative to their deadline (the proxy's own overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import signal
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

_CLOSE = None  # the "connection lost" marker in a delivery


@dataclass
class Stats:
    connections: int = 0
    open_now: int = 0
    max_open: int = 0
    upstream_failures: int = 0
    chunks: int = 0
    lateness: list[float] = field(default_factory=list)

    def record_lateness(self, seconds: float) -> None:
        self.chunks += 1
        if len(self.lateness) < 200_000:
            self.lateness.append(seconds)

    def summary(self) -> dict[str, float | int]:
        late = sorted(self.lateness) or [0.0]
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        return {
            "connections": self.connections,
            "max_open": self.max_open,
            "upstream_failures": self.upstream_failures,
            "chunks": self.chunks,
            "lateness_ms_median": round(statistics.median(late) * 1000, 2),
            "lateness_ms_p99": round(p99 * 1000, 2),
            "lateness_ms_max": round(late[-1] * 1000, 2),
        }


class _Half(asyncio.Protocol):
    """One socket of a proxied pair; what it receives reaches its partner `delay` seconds later."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.partner: _Half | None = None
        self.last_due = 0.0
        self.got_eof = False  # the peer of this socket finished sending
        self.sent_eof = False  # we finished sending to the peer of this socket
        self.early: list[bytes | None] = []  # deliveries that arrived before we were connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        early, self.early = self.early, []
        for data in early:
            self.deliver(data, None)

    def data_received(self, data: bytes) -> None:
        self.link.forward(self, data)

    def eof_received(self) -> bool:
        self.got_eof = True
        self.link.forward(self, b"")
        return not self.sent_eof  # half-open until both directions are done, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.forward(self, _CLOSE)
        self.link.half_closed()

    def deliver(self, data: bytes | None, due: float | None) -> None:
        """Write what the partner received; b"" is an end of stream, None a close."""
        if due is not None:
            self.link.stats.record_lateness(max(0.0, self.link.loop.time() - due))
        transport = self.transport
        if transport is None:
            self.early.append(data)
            return
        if transport.is_closing():
            return
        if data is _CLOSE:
            transport.close()
        elif data:
            transport.write(data)
        elif self.got_eof or not transport.can_write_eof():
            transport.close()  # both directions are done
        else:
            transport.write_eof()
            self.sent_eof = True


class _Link:
    """A client connection and its upstream connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, stats: Stats) -> None:
        self.loop = loop
        self.delay = delay
        self.stats = stats
        self.client = _Half(self)
        self.upstream = _Half(self)
        self.client.partner = self.upstream
        self.upstream.partner = self.client
        self.closed_halves = 0
        stats.connections += 1
        stats.open_now += 1
        stats.max_open = max(stats.max_open, stats.open_now)

    def forward(self, source: _Half, data: bytes | None) -> None:
        due = max(self.loop.time() + self.delay, source.last_due + 1e-6)
        source.last_due = due
        assert source.partner is not None
        self.loop.call_at(due, source.partner.deliver, data, due)

    def half_closed(self) -> None:
        self.closed_halves += 1
        if self.closed_halves == 2:
            self.stats.open_now -= 1

    async def connect(self, upstream: tuple[str, int]) -> None:
        try:
            await self.loop.create_connection(lambda: self.upstream, *upstream)
        except OSError:
            self.stats.upstream_failures += 1
            self.half_closed()
            if self.client.transport is not None:
                self.client.transport.abort()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        raise argparse.ArgumentTypeError(f"{host}: only loopback addresses are allowed")
    return host, int(port)


async def serve(
    listen: list[tuple[str, int]], upstream: tuple[str, int], delay: float, stats_path: Path | None
) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    connecting: set[asyncio.Task[None]] = set()

    def accept() -> _Half:
        link = _Link(loop, delay, stats)
        task = loop.create_task(link.connect(upstream))
        connecting.add(task)
        task.add_done_callback(connecting.discard)
        return link.client

    servers = [
        await loop.create_server(accept, host, port, backlog=4096, reuse_address=True)
        for host, port in listen
    ]
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready " + " ".join(f"{h}:{p}" for h, p in listen), flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    if stats_path is not None:
        stats_path.write_text(json.dumps(stats.summary(), indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--listen",
        type=_address,
        action="append",
        required=True,
        help="address:port to accept on (repeatable), loopback only",
    )
    parser.add_argument("--upstream", type=_address, required=True, help="address:port of nginx")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per direction")
    parser.add_argument("--stats", type=Path, help="write JSON statistics here on exit")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.listen, args.upstream, args.delay, args.stats))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
