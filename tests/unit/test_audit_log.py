"""The audit log's hash chain: appends, reopenings, crash repair, and every kind of tampering."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from support.builders import NOW, WILDCARD, failed, incident, inventory, served
from ticketbridge.audit.log import (
    GENESIS,
    AuditLog,
    canonical_json,
    read_records,
    record_hash,
    verify_log,
)
from ticketbridge.audit.records import Approval
from ticketbridge.core.apply import ActionResult, ApplyReport
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.errors import AuditLogError


def ticking(start: datetime = NOW) -> Callable[[], datetime]:
    moments: Iterator[datetime] = (start + timedelta(seconds=n) for n in range(10**6))
    return lambda: next(moments)


def incident_plan(facts: Inventory | None = None) -> Plan:
    return decide(facts or incident(), [], Policy(), NOW)


def write_run(log: AuditLog, facts: Inventory | None = None) -> ApplyReport:
    """One whole run as the service writes it: start, observed, each action, finish."""
    facts = facts or incident()
    decided = incident_plan(facts)
    log.start_run(config_path="/etc/ticketbridge.toml", backend="local")
    log.observed(facts)
    results = []
    for number, action in enumerate(decided.actions, start=1):
        result = ActionResult(action, applied=action.writes, ticket=f"OPS-{number}")
        log.action(result)
        results.append(result)
    report = ApplyReport(plan=decided, results=tuple(results))
    log.finish_run(report, exit_code=0)
    return report


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def records(path: Path) -> list[dict[str, Any]]:
    return list(read_records(path))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "ticketbridge-audit.jsonl"


@pytest.fixture
def two_runs(log_path: Path) -> Path:
    log_path.parent.mkdir()
    write_run(AuditLog(log_path, clock=ticking()))
    write_run(AuditLog(log_path, clock=ticking(NOW + timedelta(days=1))))
    return log_path


def test_each_append_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=ticking())
    facts = incident()
    decided = incident_plan(facts)

    run = log.start_run(config_path="ticketbridge.toml", backend="jira")
    assert [r["event"] for r in records(path)] == ["run_started"]
    log.observed(facts)
    assert [r["event"] for r in records(path)] == ["run_started", "observed"]
    result = ActionResult(decided.actions[0], applied=True, ticket="OPS-1")
    log.action(result)
    written = records(path)[-1]
    # The audit schema (audit/records.py, version 2), not the CLI's JSON output: pinned here.
    assert written["schema"] == 2
    assert set(written["data"]) == {
        "kind", "ticket", "certificate", "fields", "reason", "comment", "ticket_url",
        "applied", "error", "note", "page", "unobserved",
        "approval", "approved_by", "plan_id",
    }  # fmt: skip
    assert written["data"]["approval"] == "automatic" and written["data"]["approved_by"] is None
    assert written["data"]["ticket"] == "OPS-1" and written["data"]["applied"] is True
    assert written["data"]["certificate"]["id"] == decided.actions[0].certificate.id
    assert written["data"]["reason"] == decided.actions[0].reason
    log.finish_run(ApplyReport(decided, (result,)), exit_code=1, error="jira unreachable")

    first, observed, action, finished = records(path)
    assert {r["run"] for r in (first, observed, action, finished)} == {run}
    assert len(run) == 32 and int(run, 16) >= 0
    assert (
        first["seq"] == 1 and first["prev"] == GENESIS and first["time"] == "2026-11-26T21:30:00Z"
    )
    # Only the config path and backend name: nothing else from the configuration (and, since
    # schema 2, who approved the run's plan).
    assert set(first["data"]) == {
        "version", "config_path", "backend", "host", "approval", "approved_by", "plan_id",
    }  # fmt: skip
    assert first["data"]["backend"] == "jira"
    assert [c["id"] for c in observed["data"]["certificates"]] == [c.id for c in facts.certificates]
    assert finished["data"] == {
        "summary": decided.summary,
        "applied": 1,
        "failed": 0,
        "exit_code": 1,
        "error": "jira unreachable",
        "approval": "automatic",
        "approved_by": None,
        "plan_id": None,
    }
    assert all(line.endswith(b"\n") for line in lines(path))


def test_records_are_canonical_json_and_hash_what_they_say(two_runs: Path) -> None:
    for raw, record in zip(lines(two_runs), records(two_runs), strict=True):
        assert raw == canonical_json(record) + b"\n"
        body = {key: value for key, value in record.items() if key != "hash"}
        assert record["hash"] == hashlib.sha256(canonical_json(body)).hexdigest()


def test_unobserved_endpoints_are_recorded_with_why(log_path: Path) -> None:
    log = AuditLog(log_path, clock=ticking())
    log.start_run(config_path="c.toml", backend="local")
    log.observed(
        inventory(
            served("app.example.com", "192.0.2.10", WILDCARD, NOW),
            failed("api.example.com", "192.0.2.11"),
        )
    )

    (unobserved,) = records(log_path)[-1]["data"]["unobserved"]
    assert unobserved == {
        "endpoint": "api.example.com:443@192.0.2.11",
        "kind": "timeout",
        "message": "timeout talking to 192.0.2.11",
    }


def test_the_chain_continues_across_runs_and_reopenings(two_runs: Path) -> None:
    chain = records(two_runs)
    assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1))
    assert chain[0]["prev"] == GENESIS
    assert all(later["prev"] == earlier["hash"] for earlier, later in pairwise(chain))
    assert len({r["run"] for r in chain}) == 2

    verdict = verify_log(two_runs)
    assert verdict.ok and verdict.problem is None
    assert verdict.records == len(chain) and verdict.runs == 2
    assert verdict.head == chain[-1]["hash"]


def test_one_log_used_by_two_writers_at_once_stays_one_chain(log_path: Path) -> None:
    scheduled, manual = AuditLog(log_path), AuditLog(log_path)
    scheduled.start_run(config_path="a.toml", backend="local")
    manual.start_run(config_path="b.toml", backend="local")
    scheduled.observed(incident())
    manual.finish_run(None, exit_code=3)
    scheduled.finish_run(None, exit_code=0)

    verdict = verify_log(log_path)
    assert verdict.ok and verdict.records == 5 and verdict.runs == 2


def test_the_log_file_is_private(log_path: Path) -> None:
    write_run(AuditLog(log_path))
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600


def test_records_need_a_run(log_path: Path) -> None:
    with pytest.raises(AuditLogError, match="start_run"):
        AuditLog(log_path).observed(incident())
    assert not log_path.exists()


def test_an_unwritable_log_is_an_audit_log_error(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").mkdir()
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(AuditLogError, match="cannot append"):
        log.start_run(config_path="c.toml", backend="local")


def test_a_missing_log_is_reported_not_raised(tmp_path: Path) -> None:
    verdict = verify_log(tmp_path / "nothing.jsonl")
    assert not verdict.ok and verdict.records == 0 and verdict.head is None
    assert verdict.problem is not None and "does not exist" in verdict.problem


def test_an_empty_log_verifies_with_no_head(log_path: Path) -> None:
    log_path.parent.mkdir()
    log_path.write_bytes(b"")
    verdict = verify_log(log_path)
    assert verdict.ok and verdict.records == 0 and verdict.head is None


def _edit_field(content: list[bytes]) -> list[bytes]:
    record = json.loads(content[2])
    record["data"]["applied"] = not record["data"]["applied"]
    content[2] = canonical_json(record) + b"\n"
    return content


def _edit_hash(content: list[bytes]) -> list[bytes]:
    record = json.loads(content[3])
    record["hash"] = "f" * 64
    content[3] = canonical_json(record) + b"\n"
    return content


def _rehash(content: list[bytes]) -> list[bytes]:
    """A careful forger: changes a record and fixes its own hash (not the next record's prev)."""
    record = json.loads(content[1])
    record["data"]["certificates"] = []
    record["hash"] = record_hash(record)
    content[1] = canonical_json(record) + b"\n"
    return content


def _delete(content: list[bytes]) -> list[bytes]:
    del content[2]
    return content


def _reorder(content: list[bytes]) -> list[bytes]:
    content[2], content[3] = content[3], content[2]
    return content


def _insert_copy(content: list[bytes]) -> list[bytes]:
    content.insert(4, content[1])
    return content


def _insert_garbage(content: list[bytes]) -> list[bytes]:
    content.insert(2, b'{"note": "added later"}\n')
    return content


def _insert_blank(content: list[bytes]) -> list[bytes]:
    content.insert(5, b"\n")
    return content


def _delete_first(content: list[bytes]) -> list[bytes]:
    return content[1:]


@pytest.mark.parametrize(
    ("tamper", "line", "says"),
    [
        (_edit_field, 3, "hash does not match"),
        (_edit_hash, 4, "hash does not match"),
        (_rehash, 3, "prev does not chain to line 2"),
        (_delete, 3, "prev does not chain to line 2"),
        (_reorder, 3, "prev does not chain"),
        (_insert_copy, 5, "prev does not chain to line 4"),
        (_insert_garbage, 3, "not an audit record"),
        (_insert_blank, 6, "not an audit record"),
        (_delete_first, 1, "the start of the log"),
    ],
)
def test_every_kind_of_tampering_names_the_first_broken_line(
    two_runs: Path, tamper: Callable[[list[bytes]], list[bytes]], line: int, says: str
) -> None:
    before = verify_log(two_runs)
    two_runs.write_bytes(b"".join(tamper(lines(two_runs))))

    verdict = verify_log(two_runs)

    assert not verdict.ok
    assert verdict.line == line
    assert verdict.problem is not None
    assert verdict.problem.startswith(f"line {line}: ") and says in verdict.problem
    assert verdict.head != before.head or verdict.records < before.records


def _truncate_last_record(path: Path, keep: int = 40) -> bytes:
    content = lines(path)
    cut = content[-1][:keep]
    path.write_bytes(b"".join(content[:-1]) + cut)
    return cut


def test_a_crash_mid_write_is_repaired_by_the_next_writer(two_runs: Path) -> None:
    complete = len(lines(two_runs)) - 1
    partial = _truncate_last_record(two_runs)
    last_whole = records(two_runs)[-1]

    broken = verify_log(two_runs)
    assert not broken.ok and broken.line == complete + 1
    assert broken.problem is not None and "not yet repaired" in broken.problem

    write_run(AuditLog(two_runs, clock=ticking(NOW + timedelta(days=2))))

    after = lines(two_runs)
    assert after[complete] == partial + b"\n"
    repair = json.loads(after[complete + 1])
    assert repair["event"] == "log_repaired"
    assert repair["data"]["line"] == complete + 1
    assert repair["data"]["sha256"] == hashlib.sha256(partial).hexdigest()
    assert repair["prev"] == last_whole["hash"] and repair["seq"] == last_whole["seq"] + 1
    assert json.loads(after[complete + 2])["event"] == "run_started"
    verdict = verify_log(two_runs)
    assert verdict.ok, verdict.problem
    assert verdict.runs == 3


def test_a_partial_line_without_its_repair_breaks_the_chain(two_runs: Path) -> None:
    complete = len(lines(two_runs)) - 1
    _truncate_last_record(two_runs)
    last = records(two_runs)[-1]
    # A writer that ignored the damage: terminated it and chained straight on.
    record: dict[str, Any] = {
        "seq": last["seq"] + 1,
        "time": "2026-11-28T00:00:00Z",
        "run": last["run"],
        "event": "run_finished",
        "data": {},
        "prev": last["hash"],
    }
    record["hash"] = record_hash(record)
    with two_runs.open("ab") as handle:
        handle.write(b"\n" + canonical_json(record) + b"\n")

    verdict = verify_log(two_runs)
    assert not verdict.ok and verdict.line == complete + 1
    assert verdict.problem is not None and "not set aside by a log_repaired" in verdict.problem


def test_a_repair_naming_other_bytes_is_not_accepted(two_runs: Path) -> None:
    complete = len(lines(two_runs)) - 1
    _truncate_last_record(two_runs)
    write_run(AuditLog(two_runs))
    content = lines(two_runs)
    content[complete] = b'{"seq": 1, "forged": true}\n'
    two_runs.write_bytes(b"".join(content))

    verdict = verify_log(two_runs)
    assert not verdict.ok and verdict.line == complete + 1


def test_a_crash_during_the_repair_is_repaired_in_one_record(two_runs: Path) -> None:
    complete = len(lines(two_runs)) - 1
    partial = _truncate_last_record(two_runs)
    # The first repair got as far as its newline and half its record.
    with two_runs.open("ab") as handle:
        handle.write(b'\n{"seq":99,"da')

    write_run(AuditLog(two_runs))

    repair = records(two_runs)[complete]
    assert repair["event"] == "log_repaired"
    assert repair["data"]["line"] == complete + 1 and repair["data"]["lines"] == 2
    damaged = partial + b'\n{"seq":99,"da'
    assert repair["data"]["sha256"] == hashlib.sha256(damaged).hexdigest()
    assert verify_log(two_runs).ok


def test_a_whole_record_that_lost_only_its_newline_is_kept(two_runs: Path) -> None:
    two_runs.write_bytes(two_runs.read_bytes().removesuffix(b"\n"))
    assert verify_log(two_runs).ok

    write_run(AuditLog(two_runs))

    assert "log_repaired" not in {r["event"] for r in records(two_runs)}
    assert verify_log(two_runs).ok


def test_a_first_write_that_crashed_is_repaired_from_the_start(log_path: Path) -> None:
    log_path.parent.mkdir()
    log_path.write_bytes(b'{"seq":1,"ti')

    write_run(AuditLog(log_path))

    repair = records(log_path)[0]
    assert repair["event"] == "log_repaired" and repair["prev"] == GENESIS
    assert repair["data"]["line"] == 1 and repair["seq"] == 1
    assert verify_log(log_path).ok


def test_the_tail_is_found_behind_records_longer_than_a_read_block(log_path: Path) -> None:
    many = inventory(
        *(
            served(f"host{n}.example.com", f"192.0.2.{n % 250}", (f"n{n}.example.com",), NOW)
            for n in range(600)
        )
    )
    log = AuditLog(log_path, clock=ticking())
    log.start_run(config_path="c.toml", backend="local")
    log.observed(many)
    assert len(lines(log_path)[-1]) > 64 * 1024
    _truncate_last_record(log_path, keep=70_000)

    write_run(AuditLog(log_path))

    assert records(log_path)[1]["data"]["line"] == 2
    assert verify_log(log_path).ok


def test_a_cached_head_is_refreshed_when_another_process_appended(log_path: Path) -> None:
    first = AuditLog(log_path)
    first.start_run(config_path="c.toml", backend="local")
    write_run(AuditLog(log_path))
    first.finish_run(None, exit_code=0)

    verdict = verify_log(log_path)
    assert verdict.ok and verdict.runs == 2


def test_a_version_1_log_still_verifies_and_version_2_records_continue_its_chain(
    log_path: Path,
) -> None:
    """Issue 16 bumped the record schema: logs written before it must stay evidence."""
    log_path.parent.mkdir()
    record: dict[str, Any] = {
        "seq": 1, "time": "2026-11-20T00:00:00Z", "run": "a" * 32, "event": "run_started",
        "data": {"version": "0.9", "config_path": "t.toml", "backend": "local", "host": "h"},
        "prev": GENESIS, "schema": 1,
    }  # fmt: skip
    record["hash"] = record_hash(record)
    log_path.write_bytes(canonical_json(record) + b"\n")
    log = AuditLog(log_path, clock=ticking())
    log.start_run(
        config_path="t.toml", backend="local", approval=Approval("cab@example.com", "f" * 64)
    )
    log.planned("f" * 64, {"observations": {"sha256": "0" * 64, "count": 0}}, 0)
    log.finish_run(None, exit_code=0)
    written = records(log_path)
    assert [r["schema"] for r in written] == [1, 2, 2, 2]
    assert written[1]["prev"] == record["hash"]
    assert written[1]["data"]["approval"] == "approved"
    assert written[2]["data"]["approved_by"] == "cab@example.com"
    assert written[3]["data"]["plan_id"] == "f" * 64
    assert verify_log(log_path).ok


def test_observed_records_each_https_endpoints_hsts_answer(log_path: Path) -> None:
    """Schema 2: the report's HSTS section per endpoint reads it from `observed`."""
    from dataclasses import replace

    from ticketbridge.core.hsts import Hsts, HstsError

    app = replace(
        served("app.example.com", "192.0.2.10", WILDCARD, NOW + timedelta(days=9)),
        hsts=Hsts(present=True, max_age=300, include_subdomains=True, status=200),
    )
    api = replace(
        served("api.example.com", "192.0.2.11", WILDCARD, NOW + timedelta(days=9)),
        hsts=Hsts(present=False, error=HstsError("timeout", "no response head")),
    )
    www = served("www.example.com", "192.0.2.20", ("www.example.com",), NOW + timedelta(days=99))
    log = AuditLog(log_path, clock=ticking())
    log.start_run(config_path="t.toml", backend="local")
    log.observed(inventory(app, api, www))
    (observed,) = [r for r in records(log_path) if r["event"] == "observed"]
    assert observed["data"]["hsts"] == [
        {
            "endpoint": "api.example.com:443@192.0.2.11", "present": False, "max_age": None,
            "include_subdomains": False, "preload": False, "status": None,
            "error": {"kind": "timeout", "message": "no response head"},
        },
        {
            "endpoint": "app.example.com:443@192.0.2.10", "present": True, "max_age": 300,
            "include_subdomains": True, "preload": False, "status": 200, "error": None,
        },
    ]  # fmt: skip
