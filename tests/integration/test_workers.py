"""Probe worker processes: the same observations as one process, even when a worker dies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.certs import Issued, make_ca, make_intermediate, make_leaf
from support.tlsservers import Served, TLSServer

NOW = datetime.now(UTC).replace(microsecond=0)

# Run in a fresh interpreter: forking the pytest process, which runs server threads, is unsafe.
SCRIPT = """
import json, os, signal, sys
from ticketbridge.discovery.tls import ProbeOptions
from ticketbridge.discovery.verify import TrustVerifier
from ticketbridge.discovery import workers
from ticketbridge.discovery.workers import WorkerPool
from ticketbridge.core.model import Endpoint

here = []  # endpoints the parent had to probe itself
original_in_process = workers._in_process
async def counted_in_process(missing, *args):
    here.extend(missing)
    return await original_in_process(missing, *args)
workers._in_process = counted_in_process

port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
endpoints = [Endpoint(f"n{i}.example.com", port, "127.0.0.21", f"n{i}.example.com") for i in range(count)]
pool = WorkerPool(2)
if mode == "kill":
    os.kill(pool.workers[0].process.pid, signal.SIGKILL)
    pool.workers[0].process.join()
victim = pool.workers[0].process

def progress(done):
    # "kill-midway": worker 0 dies after the first observations came back, with most of its
    # share still unsent (it is fed slice by slice).
    if mode == "kill-midway" and victim.is_alive():
        os.kill(victim.pid, signal.SIGKILL)

try:
    observations = pool.probe(
            endpoints, ProbeOptions(1.0, 2.0), concurrency=8, workers=2, extra_anchors=None,
            verifier=lambda: None, progress=progress,
        )
finally:
    pool.close()
print(json.dumps(sorted([o.endpoint.host, o.status, o.certificate.names[0] if o.certificate else None] for o in observations)))
print(len(here))
"""


@pytest.fixture(scope="module")
def pki() -> tuple[Issued, Served]:
    """The root, and the leaf with its intermediate as the server sends them."""
    root = make_ca(
        "Workers Root", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=900)
    )
    intermediate = make_intermediate(
        root, "Workers CA", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=800)
    )
    leaf: Issued = make_leaf(
        intermediate,
        names=("*.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=60),
        key_slot="workers",
    )
    return root, Served([leaf, intermediate])


@pytest.fixture(scope="module")
def server(pki: tuple[Issued, Served]) -> Iterator[TLSServer]:
    with TLSServer(pki[1], address="127.0.0.21") as running:
        yield running


def probe_in_subprocess(port: int, mode: str, count: int = 40) -> list[list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(port), mode, str(count)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listing, probed_by_parent = result.stdout.splitlines()
    if mode == "normal":
        assert probed_by_parent == "0", "the workers left endpoints unprobed"
    observations: list[list[str]] = json.loads(listing)
    return observations


def test_every_endpoint_is_observed_once_across_workers(server: TLSServer) -> None:
    observations = probe_in_subprocess(server.port, "normal")
    assert observations == sorted([f"n{i}.example.com", "ok", "*.example.com"] for i in range(40))


def test_a_dead_worker_costs_time_never_an_observation(server: TLSServer) -> None:
    observations = probe_in_subprocess(server.port, "kill")
    assert observations == sorted([f"n{i}.example.com", "ok", "*.example.com"] for i in range(40))


@pytest.mark.parametrize("mode", ["normal", "kill-midway"])
def test_shares_fed_slice_by_slice_still_observe_every_endpoint_once(
    server: TLSServer, mode: str
) -> None:
    """1,100 endpoints: each worker's share is several slices (workers._SLICE), written by a
    feeder thread as the worker reads; a worker killed mid-share leaves its unsent slices and
    its unreported probes to the parent, and nothing is observed twice."""
    observations = probe_in_subprocess(server.port, mode, 1100)
    assert observations == sorted([f"n{i}.example.com", "ok", "*.example.com"] for i in range(1100))


@pytest.mark.parametrize("count", [0, 1, 31, 32, 33, 64, 100, 1000])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shares_deal_out_runs_of_neighbours_covering_every_endpoint_once(
    count: int, size: int
) -> None:
    from ticketbridge.core.model import Endpoint
    from ticketbridge.discovery.workers import worker_share

    endpoints = [Endpoint(f"n{i}.example.com", 443, "192.0.2.1", None) for i in range(count)]
    shares = [worker_share(endpoints, index, size) for index in range(size)]
    assert sorted(e.host for share in shares for e in share) == sorted(e.host for e in endpoints)
    # Neighbours stay together: the five names of one certificate in a sorted configuration
    # go to one worker (unless they straddle a run's end), so its chain is verified once.
    together = sum(
        any({e.host for e in endpoints[i : i + 5]} <= {e.host for e in share} for share in shares)
        for i in range(0, count - 4, 5)
    )
    assert together >= (count // 5) - (count // 32 + 1)
    # And the shares stay even: no worker holds more than one run above another.
    lengths = [len(share) for share in shares]
    assert max(lengths) - min(lengths) <= 32


# Both ways of probing, on the same endpoints, in one fresh interpreter.
SAME_AS_IN_PROCESS = """
import asyncio, dataclasses, sys
from ticketbridge.core.model import Endpoint
from ticketbridge.discovery.tls import ProbeOptions, probe_all
from ticketbridge.discovery.verify import TrustVerifier, system_trust_anchors
from ticketbridge.discovery.workers import WorkerPool
from ticketbridge.infra.clock import utcnow_seconds

port, closed, root = int(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3])
endpoints = [
    Endpoint(f"n{i}.example.com", port, "127.0.0.21", f"n{i}.example.com", source=f"zone:z{i}")
    for i in range(300)
] + [Endpoint("down.example.com", closed, "127.0.0.21", "down.example.com")]
options = ProbeOptions(2.0, 4.0)
pool = WorkerPool(2)
try:
    pooled = pool.probe(endpoints, options, concurrency=8, workers=2, extra_anchors=[root],
                        verifier=lambda: None)
finally:
    pool.close()
verifier = TrustVerifier([*system_trust_anchors(), *TrustVerifier.from_der([root]).anchors])
async def here():
    return [o async for o in probe_all(endpoints, options, 8, verifier, utcnow_seconds)]
local = asyncio.run(here())
def comparable(observations):
    return sorted((dataclasses.replace(o, observed_at=None) for o in observations),
                  key=lambda o: o.endpoint)
assert comparable(pooled) == comparable(local), "pooled and in-process observations differ"
by_endpoint = {o.endpoint: o for o in pooled}
assert all(by_endpoint[e].endpoint is e for e in endpoints), "not the parent's own endpoints"
ok = [o for o in pooled if o.status == "ok"]
assert len(ok) == 300 and all(o.verification.trusted for o in ok), "verdicts lost"
assert len({id(o.chain) for o in ok}) == 1, "one chain, one object"
print(sorted({o.status for o in pooled}), by_endpoint[endpoints[0]].endpoint.source)
"""


def test_workers_observe_exactly_what_one_process_observes(
    server: TLSServer, pki: tuple[Issued, Served]
) -> None:
    """Every field of every observation (verdict, chain, errors, where an endpoint was listed) is
    the same through the workers' pipes as from an in-process probe of the same endpoints."""
    from cryptography.hazmat.primitives.serialization import Encoding

    with socket.socket() as unused:  # bound and never listening: a refused connection
        unused.bind(("127.0.0.21", 0))
        closed = unused.getsockname()[1]
        root = pki[0].certificate.public_bytes(Encoding.DER)
        result = subprocess.run(
            [sys.executable, "-c", SAME_AS_IN_PROCESS, str(server.port), str(closed), root.hex()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['error',", "'ok']", "zone:z0"]
