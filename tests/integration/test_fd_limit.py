"""A scan under a low open-file limit (`ulimit -n`): the limit is this machine's, never an endpoint's.

Each scan runs in a child process that sets its RLIMIT_NOFILE with setrlimit(2) first
(soft = hard, so it cannot be raised), against a real TLS server in this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.certs import make_ca, make_leaf
from support.tlsservers import Served, TLSServer

NOW = datetime.now(UTC).replace(microsecond=0)
LIMIT = 96

CHILD = textwrap.dedent(
    """
    import resource, sys
    limit = int(sys.argv[5])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))  # soft = hard: cannot be raised

    import asyncio, json
    from ticketbridge.core.model import Endpoint
    from ticketbridge.discovery.tls import ProbeOptions, probe_all
    from ticketbridge.errors import LocalLimitError

    port, count, concurrency, exhaust = (int(arg) for arg in sys.argv[1:5])
    endpoints = [Endpoint(f"h{i}.example.com", port, "127.0.0.2", "example.com") for i in range(count)]

    async def main():
        held = []
        if exhaust:  # every descriptor taken, as by a leak elsewhere in the process
            try:
                while True:
                    held.append(open("/dev/null"))
            except OSError:
                pass
        options = ProbeOptions(connect_timeout=5.0, handshake_timeout=5.0)
        async for observation in probe_all(endpoints, options, concurrency):
            error = observation.error
            print(json.dumps([observation.status, error and error.message]), flush=True)

    try:
        asyncio.run(main())
    except LocalLimitError as exc:
        print(json.dumps(["local", str(exc)]))
    """
)


def scan_child(port: int, count: int, concurrency: int, *, exhaust: bool) -> list[list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, (port, count, concurrency, int(exhaust), LIMIT))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def server() -> Iterator[TLSServer]:
    root = make_ca(
        "Fd Limit Root", not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=90)
    )
    leaf = make_leaf(
        root,
        names=("example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        key_slot="fdlimit",
    )
    with TLSServer(Served([leaf])) as running:
        yield running


def test_high_concurrency_under_a_low_limit_probes_every_endpoint(server: TLSServer) -> None:
    results = scan_child(server.port, 300, 5000, exhaust=False)
    assert len(results) == 300
    failures = [message for status, message in results if status != "ok"]
    assert failures == []  # before: "Too many open files" blamed on ~250 endpoints


def test_no_descriptors_left_stops_the_scan_instead_of_blaming_endpoints(server: TLSServer) -> None:
    results = scan_child(server.port, 3, 1, exhaust=True)
    assert [status for status, _ in results] == ["local"]
    assert "ulimit -n" in results[0][1] and "file descriptors" in results[0][1]


WORKER_CHILD = textwrap.dedent(
    """
    import os, resource, sys, time
    from ticketbridge.core.model import Endpoint
    from ticketbridge.discovery.tls import ProbeOptions
    from ticketbridge.discovery.workers import WorkerPool
    from ticketbridge.errors import LocalLimitError

    port, count = int(sys.argv[1]), int(sys.argv[2])
    endpoints = [Endpoint(f"h{i}.example.com", port, "127.0.0.2", "example.com") for i in range(count)]
    pool = WorkerPool(2)
    time.sleep(1.0)  # the workers load their trust anchors, then wait for a job
    for worker in pool.workers:
        # prlimit(2) on the idle worker: room for an event loop (epoll, a socketpair), no more.
        in_use = len(os.listdir(f"/proc/{worker.process.pid}/fd"))
        resource.prlimit(worker.process.pid, resource.RLIMIT_NOFILE, (in_use + 3, in_use + 3))
    try:
        pool.probe(
            endpoints, ProbeOptions(), concurrency=8, workers=2, extra_anchors=None, verifier=lambda: None
        )
        print("finished")
    except LocalLimitError as exc:
        print("local:", exc)
    finally:
        pool.close()
    """
)


def test_a_worker_out_of_descriptors_stops_the_scan_too(server: TLSServer) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_CHILD, str(server.port), "4"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("local: this machine ran out of file descriptors"), done.stdout
    assert "Traceback" not in done.stderr  # the worker reported it; it did not crash
