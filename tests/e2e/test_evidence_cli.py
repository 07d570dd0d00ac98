"""The evidence survives a bad day: a full disk never loses a change from a verified report,
symlinks at the lock and log paths are refused, loose modes are warned about, and an emptied
store is not silently started over."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support.certs import make_leaf, many_names, write_pem
from support.cli import run_cli
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401

from .conftest import NOW


def _certificates(directory: Path, extra_names: int = 0) -> None:
    directory.mkdir(exist_ok=True)
    write_pem(
        directory / "soon.pem",
        make_leaf(
            names=("soon.example.com", *many_names(extra_names, "soon.example.com")),
            not_before=NOW - timedelta(days=80),
            not_after=NOW + timedelta(days=5),
            key_slot="evidence-soon",
        ),
    )


def _local_config(tmp_path: Path, audit: str = "audit.jsonl", lock: str = "run.lock") -> Path:
    _certificates(tmp_path / "certs")
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        '[[files]]\npath = "certs/*.pem"\n\n'
        f'[tickets]\nlocal_path = "tickets.db"\nlock_path = "{lock}"\n\n'
        f'[audit]\nlog_path = "{audit}"\n',
        encoding="utf-8",
    )
    return config


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ticketbridge: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- a full disk -------------------------------------------------------------------------------


@contextlib.contextmanager
def _tiny_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr!r}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Write until the file system is full, as a log rotation gone wrong would."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


class _DiskFillingJira(JiraFake):
    """The real fake Jira; the moment it has created an issue, the audit log's disk fills up.
    The create succeeded, and the client's next append to the audit trail will fail."""

    def __init__(self, evidence: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evidence = evidence
        self.filled: Path | None = None

    def _serve(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> Any:
        answer = super()._serve(method, raw_path, headers, raw_body)
        if method == "POST" and raw_path.rstrip("/").endswith("/issue") and self.filled is None:
            self.filled = _fill(self.evidence)
        return answer


def test_a_full_disk_after_a_create_never_drops_the_create_from_the_report(
    tmp_path: Path,
) -> None:
    evidence = tmp_path / "evidence"
    jira = _DiskFillingJira(evidence, flavour="datacenter")
    with _tiny_tmpfs(evidence), jira:
        # tmpfs keeps the slack of a file's last page: with 200 names the outcome record is
        # larger than a page, so it cannot slip into that slack after the disk is full.
        _certificates(tmp_path / "certs", extra_names=200)
        config = tmp_path / "ticketbridge.toml"
        config.write_text(
            '[[files]]\npath = "certs/*.pem"\n\n'
            f'[tickets]\nbackend = "jira"\nlock_path = "run.lock"\n\n'
            f'[jira]\nurl = "{jira.url}"\nproject = "OPS"\nrequests_per_second = 1000\n\n'
            '[audit]\nlog_path = "evidence/audit.jsonl"\n',
            encoding="utf-8",
        )
        env = {"TICKETBRIDGE_JIRA__TOKEN": jira.token}
        first = run_cli("--config", str(config), "reconcile", env=env)
        assert first.returncode == 1, first.stderr
        assert "No space left on device" in _one_error_line(first.stderr)
        (created,) = jira.state.issues.values()
        assert jira.filled is not None
        jira.filled.unlink()  # the operator frees the disk

        # Before any further run, the report already shows the write (as not yet confirmed).
        before = run_cli("--config", str(config), "report", "--format", "json", env=env)
        assert before.returncode == 0, before.stderr
        report = json.loads(before.stdout)
        assert report["log"]["verified"] is True
        assert [(c["kind"], c["applied"]) for c in report["changes"]] == [("create", None)]

        second = run_cli("--config", str(config), "reconcile", env=env)
        assert second.returncode == 0, second.stderr
        after = run_cli("--config", str(config), "report", "--format", "json", env=env)
        assert after.returncode == 0, after.stderr
        report = json.loads(after.stdout)
        assert report["log"]["verified"] is True
        creates = [c for c in report["changes"] if c["kind"] == "create"]
        assert [(c["ticket"], c["applied"]) for c in creates] == [(created.key, True)]
        assert created.key in creates[0]["reason"]
        # And the second run did not create the ticket again.
        assert len(jira.state.issues) == 1


# -- symlinks and modes ---------------------------------------------------------------------------


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("do not truncate me\n", encoding="utf-8")
    config = _local_config(tmp_path)
    (tmp_path / "run.lock").symlink_to(precious)
    result = run_cli("--config", str(config), "reconcile")
    assert result.returncode == 1
    assert "symlink" in _one_error_line(result.stderr)
    assert precious.read_text(encoding="utf-8") == "do not truncate me\n"
    assert not (tmp_path / "tickets.db").exists() or not _tickets(tmp_path)


def test_a_symlinked_audit_log_is_refused_before_any_ticket_is_written(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("someone else's file\n", encoding="utf-8")
    config = _local_config(tmp_path)
    (tmp_path / "audit.jsonl").symlink_to(elsewhere)
    result = run_cli("--config", str(config), "reconcile")
    assert result.returncode == 1
    assert "symlink" in _one_error_line(result.stderr)
    assert elsewhere.read_text(encoding="utf-8") == "someone else's file\n"
    assert _tickets(tmp_path) == []


def test_evidence_files_looser_than_0600_are_warned_about(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    first = run_cli("--config", str(config), "reconcile")
    assert first.returncode == 0, first.stderr
    assert "chmod 600" not in first.stderr  # created 0600 by ticketbridge itself
    os.chmod(tmp_path / "audit.jsonl", 0o644)
    os.chmod(tmp_path / "tickets.db", 0o664)
    second = run_cli("--config", str(config), "reconcile")
    assert second.returncode == 0, second.stderr
    assert "audit.jsonl: mode 0644" in second.stderr
    assert "tickets.db: mode 0664" in second.stderr


def test_an_emptied_store_next_to_a_trail_naming_its_tickets_is_refused(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    first = run_cli("--config", str(config), "reconcile")
    assert first.returncode == 0, first.stderr
    assert len(_tickets(tmp_path)) == 1
    (tmp_path / "tickets.db").write_bytes(b"")  # a botched restore, a full disk, a truncation
    again = run_cli("--config", str(config), "reconcile")
    assert again.returncode == 2
    assert "the store is empty, but the audit trail" in _one_error_line(again.stderr)
    assert (tmp_path / "tickets.db").stat().st_size == 0  # not silently re-initialised


def _tickets(tmp_path: Path) -> list[str]:
    from ticketbridge.tickets.local import LocalTicketStore

    if not (tmp_path / "tickets.db").exists():
        return []
    return [ticket.key for ticket in LocalTicketStore(tmp_path / "tickets.db").all_tickets()]


# -- a report over a broken chain ------------------------------------------------------------------


def test_a_report_over_an_edited_log_exits_1_and_marks_rows_from_the_break(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    assert run_cli("--config", str(config), "reconcile").returncode == 0
    log = tmp_path / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if '"event":"action"' in line)
    lines[index] = lines[index].replace('"applied":true', '"applied":false', 1)
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_cli("--config", str(config), "report", "--format", "json")
    assert result.returncode == 1
    assert "does not verify" in _one_error_line(result.stderr)
    report = json.loads(result.stdout)
    assert report["changes"], "the edited change is shown, not silently dropped"
    assert all(change["verified"] is False for change in report["changes"])
    assert [run["verified"] for run in report["runs"]] == [False]
    # What was recorded before the break still verifies.
    assert [cert["verified"] for cert in report["certificates"]] == [True]
