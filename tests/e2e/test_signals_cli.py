"""Ctrl-C and SIGTERM during a scan of tarpits: prompt, one line, the right exit, no worker left.

A tarpit accepts the connection and never answers, so each probe would wait `handshake_timeout`
(30 s here); systemd and Kubernetes stop a service with SIGTERM, then SIGKILL after a grace
period (systemd.kill(5) `TimeoutStopSec`, default 90 s; Kubernetes
`terminationGracePeriodSeconds`, default 30 s): a run must be gone well before that.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.certs import Issued
from support.rawhttp import RawHttpServer, Script
from support.tlsservers import ScriptedServer, TLSServer, tarpit

HANDSHAKE_TIMEOUT = 30

# A shell starts a background job with SIGINT ignored, and its children inherit that: a CI
# runner that starts the suite so (`bash .ci/run &` in a script) would hand every run here an
# ignored Ctrl-C. A run started from a terminal has SIGINT at its default; this launcher puts
# it back, then becomes ticketbridge (exec: the same process, so its pid and children are the
# ones the tests watch).
TICKETBRIDGE_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'ticketbridge', *sys.argv[1:]])",
]


@pytest.fixture(scope="module")
def tarpits() -> Iterator[ScriptedServer]:
    with ScriptedServer(tarpit, address="127.0.0.3") as server:
        yield server


def _config(tmp_path: Path, port: int, count: int, workers: int) -> Path:
    endpoints = "".join(
        f'[[endpoints]]\nhost = "t{i}.example.com"\nport = {port}\naddresses = ["127.0.0.3"]\n'
        for i in range(count)
    )
    path = tmp_path / "ticketbridge.toml"
    path.write_text(
        f"[discovery]\nconcurrency = 64\nworkers = {workers}\n"
        f"connect_timeout = 5.0\nhandshake_timeout = {HANDSHAKE_TIMEOUT}.0\n\n"
        f'[tickets]\nlocal_path = "{tmp_path / "tb.db"}"\n\n'
        f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n\n{endpoints}'
    )
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reap(children: list[int]) -> None:
    """Whatever a failing test left behind is killed, so it cannot outlive the test run."""
    for pid in children:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _start(
    tmp_path: Path,
    tarpits: ScriptedServer,
    command: str,
    workers: int,
    extra_environment: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    config = _config(tmp_path, tarpits.port, 40, workers)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
    environment.update(extra_environment or {})
    process = subprocess.Popen(
        [*TICKETBRIDGE_FROM_A_TERMINAL, "--config", str(config), command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    # Wait until the probes are in the tarpit: the server has accepted connections.
    deadline = time.monotonic() + 20
    while tarpits.in_flight < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tarpits.in_flight >= 10, "the scan never reached the tarpits"
    return process


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "worker-processes"])
def test_ctrl_c_stops_a_scan_of_tarpits_within_a_second(
    tmp_path: Path, tarpits: ScriptedServer, workers: int
) -> None:
    process = _start(tmp_path, tarpits, "scan", workers)
    children = _children(process.pid)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANDSHAKE_TIMEOUT)
    assert time.monotonic() - sent < 3.0  # ~1 s; headroom for a loaded CI machine
    assert process.returncode == 130
    assert err.strip().splitlines() == ["ticketbridge: error: interrupted"]
    time.sleep(0.2)
    left = [pid for pid in children if _alive(pid)]
    _reap(left)
    assert not left


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "worker-processes"])
def test_sigterm_stops_the_run_and_its_workers_with_one_line_and_143(
    tmp_path: Path, tarpits: ScriptedServer, workers: int
) -> None:
    process = _start(tmp_path, tarpits, "scan", workers)
    children = _children(process.pid)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=HANDSHAKE_TIMEOUT)
    assert time.monotonic() - sent < 3.0  # ~1 s; headroom for a loaded CI machine
    assert process.returncode == 143
    assert err.strip().splitlines() == ["ticketbridge: error: terminated (SIGTERM)"]
    time.sleep(0.2)
    left = [pid for pid in children if _alive(pid)]
    _reap(left)
    assert not left


def test_sigterm_during_reconcile_closes_the_audit_run(
    tmp_path: Path, server: TLSServer, pki: dict[str, Issued]
) -> None:
    # The wildcard expires in 5 days: with page_within_days = 10 the run pages, and the webhook
    # takes the POST and never answers, so SIGTERM arrives while the run is applying its plan.
    endpoint = f'[[endpoints]]\nhost = "app.example.com"\nport = {server.port}\naddresses = ["127.0.0.6"]\n'
    with RawHttpServer([Script([], close=False)]) as hook:
        config = tmp_path / "ticketbridge.toml"
        config.write_text(
            "[discovery]\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n"
            "[policy]\npage_within_days = 10\n\n"
            '[tickets]\nlocal_path = "tickets.db"\n\n[audit]\nlog_path = "audit.jsonl"\n\n'
            f'[[alerts.webhook]]\nurl = "{hook.url}"\n\n{endpoint}'
        )
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
        process = subprocess.Popen(
            [*TICKETBRIDGE_FROM_A_TERMINAL, "--config", str(config), "reconcile"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 30
        while hook.posts < 1 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert hook.posts == 1, process.communicate()[1]
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert time.monotonic() - sent < 3.0  # ~1 s; headroom for a loaded CI machine
    assert process.returncode == 143
    assert err.strip().splitlines()[-1] == "ticketbridge: error: terminated (SIGTERM)"
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    events = [record["event"] for record in records]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert any(event != "run_started" and event != "run_finished" for event in events)
    assert records[-1]["data"]["exit_code"] == 143


def test_workers_die_with_a_parent_killed_outright(tmp_path: Path, tarpits: ScriptedServer) -> None:
    # SIGKILL (the end of a grace period, the OOM killer) runs no handler at all: the workers,
    # idle (in-process scan) or busy, must notice on their own.
    for workers in (1, 2):
        # 40 endpoints and `workers = 1` alone fork no workers (app/scan_size.py); a setting
        # from the environment may add endpoints, so then they are forked, and stay idle.
        idle = {"TICKETBRIDGE_DISCOVERY__WORKERS": "1"} if workers == 1 else None
        process = _start(tmp_path, tarpits, "scan", workers, idle)
        children = _children(process.pid)
        assert children, "no pre-forked workers to watch"
        process.kill()
        process.communicate(timeout=30)
        deadline = time.monotonic() + 2
        try:
            while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [pid for pid in children if _alive(pid)]
        finally:
            _reap(children)
