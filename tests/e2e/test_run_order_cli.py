"""Validate everything, then take the lock, then scan: a bad config or a held lock never costs a
scan, and the audit trail records the exit code the process really exits with."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import run_cli
from support.tlsservers import ScriptedServer, tarpit
from ticketbridge.app.runlock import RunLock


def _config(tmp_path: Path, port: int, extra: str = "") -> Path:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        "[discovery]\nconnect_timeout = 1.0\nhandshake_timeout = 1.0\n\n"
        f'[[endpoints]]\nhost = "slow.example.com"\nport = {port}\naddresses = ["127.0.0.3"]\n\n'
        '[tickets]\nlocal_path = "tickets.db"\nlock_path = "run.lock"\n\n'
        '[audit]\nlog_path = "audit.jsonl"\n\n' + extra,
        encoding="utf-8",
    )
    return config


def _finished(tmp_path: Path) -> list[int]:
    log = tmp_path / "audit.jsonl"
    if not log.exists():
        return []
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [r["data"]["exit_code"] for r in records if r["event"] == "run_finished"]


def test_a_policy_error_is_reported_before_anything_is_probed(tmp_path: Path) -> None:
    with ScriptedServer(tarpit) as peer:
        config = _config(
            tmp_path, peer.port, "[policy]\nescalate_within_days = 50\nticket_horizon_days = 45\n"
        )
        for command in ("plan", "reconcile"):
            result = run_cli("--config", str(config), command)
            assert result.returncode == 2, result.stderr
            assert "policy.escalate_within_days" in result.stderr
        # The peer was never contacted: the error came before the scan.
        assert peer.connections == 0
    # And no audited run claims another exit code than the 2 the process exited with.
    assert set(_finished(tmp_path)) <= {2}


def test_a_second_run_waiting_on_the_lock_never_scans(tmp_path: Path) -> None:
    with ScriptedServer(tarpit) as peer:
        config = _config(tmp_path, peer.port)
        with RunLock(tmp_path / "run.lock"):
            result = run_cli("--config", str(config), "reconcile")
        assert result.returncode == 5, result.stderr
        assert peer.connections == 0


def test_run_finished_records_the_process_exit_code(tmp_path: Path) -> None:
    with ScriptedServer(tarpit) as peer:
        config = _config(tmp_path, peer.port)
        broken = tmp_path / "observations.jsonl"
        broken.write_text("this is not JSON\n", encoding="utf-8")
        result = run_cli("--config", str(config), "reconcile", "--observations", str(broken))
    assert result.returncode == 2, result.stderr
    assert _finished(tmp_path) == [2]
