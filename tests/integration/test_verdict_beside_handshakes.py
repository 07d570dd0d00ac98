"""A slow verdict on one endpoint's large chain does not stall the other endpoints' handshakes.

Issue 15: a 99 KB chain whose names x constraints cost seconds of CPU, judged inside the probe
loop, made all the other endpoints in flight time out. Large chains are now judged in a thread
(`tls.VERDICT_INLINE_BYTES`), so the event loop keeps driving the other handshakes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.certs import make_ca, make_intermediate, make_leaf, many_names
from support.tlsservers import ScriptedServer, Served, TLSServer, chain_pem
from ticketbridge.core.model import Endpoint, Observation, Verification
from ticketbridge.discovery.tls import VERDICT_INLINE_BYTES, ProbeOptions, probe_all

NOW = datetime.now(UTC).replace(microsecond=0)
VERDICT_SECONDS = 1.5


class SlowVerifier:
    """A Verifier (core.model) that takes VERDICT_SECONDS of wall time on a large chain, the
    way a costly verdict would, and records how much of it the event loop's thread spent."""

    def __init__(self) -> None:
        self.blocked_loop_thread = 0.0

    def verdict(
        self, chain: Sequence[bytes], server_name: str | None, now: datetime
    ) -> Verification:
        if sum(map(len, chain)) <= VERDICT_INLINE_BYTES:
            return Verification(trusted=True, hostname_match=True, error=None)
        started = time.monotonic()
        time.sleep(VERDICT_SECONDS)
        if threading.current_thread() is threading.main_thread():
            self.blocked_loop_thread += time.monotonic() - started
        return Verification(trusted=True, hostname_match=True, error=None)


def _late_tls(context: ssl.SSLContext, delay: float):  # type: ignore[no-untyped-def]
    """A TLS server that waits `delay` before its handshake: still in flight when the large
    chain's verdict starts."""

    def behaviour(connection: socket.socket, stop: threading.Event) -> None:
        if stop.wait(delay):
            return
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.settimeout(2)
                tls.recv(1)
        except (OSError, ssl.SSLError):
            return

    return behaviour


def test_a_large_chains_verdict_leaves_other_handshakes_running(tmp_path: Path) -> None:
    root = make_ca(
        "Beside Root", not_before=NOW - timedelta(days=9), not_after=NOW + timedelta(days=900)
    )
    ca = make_intermediate(
        root, "Beside CA", not_before=NOW - timedelta(days=9), not_after=NOW + timedelta(days=300)
    )
    large = make_leaf(
        ca,
        names=many_names(3000),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=50),
        key_slot="beside-large",
    )
    small = make_leaf(
        ca,
        names=("small.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=50),
        key_slot="beside-small",
    )
    assert len(chain_pem([large])) > 2 * VERDICT_INLINE_BYTES
    (tmp_path / "small.pem").write_bytes(chain_pem([small, ca]))
    (tmp_path / "small.key").write_bytes(Served([small]).key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "small.pem", tmp_path / "small.key")
    verifier = SlowVerifier()
    options = ProbeOptions(connect_timeout=1.0, handshake_timeout=1.0)  # < VERDICT_SECONDS
    with TLSServer(Served([large, ca])) as big, ScriptedServer(_late_tls(context, 0.3)) as late:
        endpoints = [
            Endpoint(
                host="host1.example.com",
                port=big.port,
                address=big.address,
                sni="host1.example.com",
            ),
            Endpoint(
                host="small.example.com",
                port=late.port,
                address=late.address,
                sni="small.example.com",
            ),
        ]

        async def collect() -> list[Observation]:
            return [
                o async for o in probe_all(endpoints, options, concurrency=2, verifier=verifier)
            ]

        observations = {o.endpoint.host: o for o in asyncio.run(collect())}
    assert observations["host1.example.com"].status == "ok"
    small_seen = observations["small.example.com"]
    assert small_seen.status == "ok", small_seen.error
    assert small_seen.certificate is not None
    assert small_seen.certificate.names == ("small.example.com",)
    # The large chain's verdict ran beside the loop, never on its thread.
    assert verifier.blocked_loop_thread == 0
