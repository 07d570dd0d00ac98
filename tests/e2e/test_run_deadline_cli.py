"""`[run] deadline`: a whole run bounded in wall-clock time, however many peers are slow.

Per-request timeouts bound each peer; forty tarpits each holding a probe for its 30 s handshake
timeout would still keep a run (and its lock) for as long as the slowest one. The deadline ends
the run on time: one line, exit 1, no worker left, and the audit trail's run closed with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.certs import make_ca, make_leaf, write_pem
from support.tlsservers import ScriptedServer, tarpit

DEADLINE = 2.0


@pytest.fixture(scope="module")
def tarpits() -> Iterator[ScriptedServer]:
    with ScriptedServer(tarpit, address="127.0.0.3") as server:
        yield server


def _config(tmp_path: Path, port: int, workers: int, deadline: float = DEADLINE) -> Path:
    endpoints = "".join(
        f'[[endpoints]]\nhost = "t{i}.example.com"\nport = {port}\naddresses = ["127.0.0.3"]\n'
        for i in range(40)
    )
    path = tmp_path / "ticketbridge.toml"
    path.write_text(
        f"[discovery]\nconcurrency = 64\nworkers = {workers}\n"
        "connect_timeout = 5.0\nhandshake_timeout = 30.0\n\n"
        f"[run]\ndeadline = {deadline}\n\n"
        f'[tickets]\nlocal_path = "{tmp_path / "tb.db"}"\n\n'
        f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n\n{endpoints}'
    )
    return path


def _run(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ticketbridge", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("workers", [1, 2])
def test_a_scan_of_tarpits_ends_at_the_deadline_with_one_line(
    tmp_path: Path, tarpits: ScriptedServer, workers: int
) -> None:
    result, elapsed = _run(_config(tmp_path, tarpits.port, workers), "scan", "--format", "json")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ticketbridge: error: the run took longer than its deadline, [run] deadline = 2 s"
    ]
    assert DEADLINE <= elapsed < DEADLINE + 8  # not the 30 s handshake timeout


def test_a_reconcile_past_its_deadline_closes_its_audit_run_with_exit_1(
    tmp_path: Path, tarpits: ScriptedServer
) -> None:
    result, elapsed = _run(_config(tmp_path, tarpits.port, workers=1), "reconcile")

    assert result.returncode == 1, result.stderr
    assert "deadline" in result.stderr and elapsed < DEADLINE + 8
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    finished = [record for record in records if record.get("event") == "run_finished"]
    assert len(finished) == 1
    assert finished[0]["data"]["exit_code"] == 1
    assert "deadline" in finished[0]["data"]["error"]


def test_a_run_inside_its_deadline_is_untouched(tmp_path: Path) -> None:
    write_pem(tmp_path / "leaf.pem", make_leaf(make_ca("Deadline Root"), names=("a.example.com",)))
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        f'[[files]]\npath = "leaf.pem"\n\n[run]\ndeadline = 1.0\n\n'
        f'[tickets]\nlocal_path = "{tmp_path / "tb.db"}"\n'
    )

    result, elapsed = _run(config, "reconcile", "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["create"] == 1
    assert elapsed < 30
