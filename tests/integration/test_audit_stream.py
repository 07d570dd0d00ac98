"""Reading a long audit log as a stream: bounded memory, a crash's NUL tail, rotated files, CSV limits."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from support.biglog import write_long_log
from support.builders import NOW, incident
from ticketbridge.audit.formats import CSV_CELL_LIMIT, render
from ticketbridge.audit.log import AuditLog, read_records, verify_log
from ticketbridge.audit.report import build_report
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.policy import Policy
from ticketbridge.testing import InMemoryTicketSystem

T = TypeVar("T")
START = datetime(2026, 6, 1, tzinfo=UTC)


def peak_bytes(work: Callable[[], T]) -> tuple[T, int]:
    """What `work` returns, and the most memory Python held for it at any one time."""
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_one_day_report_of_a_long_log_holds_the_day_not_the_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    # 50 days of hourly runs, 40 certificates each: ~14 MB, 4,800 records.
    size = write_long_log(path, start=START, runs=1200, every=timedelta(hours=1), certificates=40)
    day = date(2026, 7, 1)

    report, peak = peak_bytes(lambda: build_report(path, day, day, NOW))

    assert report.log.ok and report.log.records == 4800
    assert len(report.runs) == 24 and len(report.changes) == 24
    assert len(report.certificates) == 40
    # Holding the log (as the report once did) would need several times its size.
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte log"


def test_memory_does_not_grow_with_the_log(tmp_path: Path) -> None:
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    write_long_log(short, start=START, runs=200, every=timedelta(hours=1), certificates=10)
    write_long_log(long, start=START, runs=1600, every=timedelta(hours=1), certificates=10)
    day = date(2026, 6, 5)

    _, short_peak = peak_bytes(lambda: build_report(short, day, day, NOW))
    _, long_peak = peak_bytes(lambda: build_report(long, day, day, NOW))

    # Eight times the log, the same day: the same memory, give or take bookkeeping.
    assert long_peak < short_peak * 1.5 + 256 * 1024


def audited_run(path: Path, now: datetime) -> None:
    log = AuditLog(path, clock=lambda: now)
    log.start_run(config_path="c.toml", backend="local")
    facts = incident()
    log.observed(facts)
    system = InMemoryTicketSystem(clock=lambda: now)
    report = apply_plan(decide(facts, [], Policy(), now), system, on_result=log.action)
    log.finish_run(report, exit_code=0)


def test_a_crash_s_tail_of_nuls_is_repaired_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audited_run(path, NOW)
    whole = path.stat().st_size
    # What a crash on a delayed-allocation filesystem leaves: the size grew, the data is zeros.
    damage = 256 << 20
    os.truncate(path, whole + damage)

    began = time.monotonic()
    _, append_peak = peak_bytes(lambda: audited_run(path, NOW + timedelta(days=1)))
    verdict, verify_peak = peak_bytes(lambda: verify_log(path))
    elapsed = time.monotonic() - began

    assert verdict.ok, verdict.problem
    repair = next(r for r in read_records(path) if r["event"] == "log_repaired")
    assert repair["data"]["bytes"] == damage and repair["data"]["lines"] == 1
    # Read a block at a time, never held whole: a few MB, not the tail.
    assert append_peak < 16 << 20 and verify_peak < 16 << 20
    # Linear: reading 256 MiB a few times. The old backward scan re-copied the tail per block
    # (quadratic: most of an hour for this size).
    assert elapsed < 120


def rotate(path: Path, suffix: str) -> Path:
    """logrotate's `create`: the live file is renamed; the next run makes a new one."""
    rotated = path.with_name(path.name + suffix)
    path.rename(rotated)
    return rotated


def test_a_rotated_log_keeps_one_chain_and_verify_walks_the_set(tmp_path: Path) -> None:
    path = tmp_path / "ticketbridge-audit.jsonl"
    audited_run(path, NOW)
    oldest = rotate(path, ".2")
    audited_run(path, NOW + timedelta(days=1))
    middle = rotate(path, ".1")
    # logrotate's `compress` gzips rotated files.
    with middle.open("rb") as plain, gzip.open(f"{middle}.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    middle.unlink()
    audited_run(path, NOW + timedelta(days=2))

    last_of_oldest = json.loads(oldest.read_bytes().splitlines()[-1])
    first_live = json.loads(path.read_bytes().splitlines()[0])
    verdict = verify_log(path)

    assert verdict.ok, verdict.problem
    assert verdict.runs == 3 and verdict.files == (str(oldest), f"{middle}.gz", str(path))
    assert first_live["seq"] > last_of_oldest["seq"] + 1  # the middle file's records between
    report = build_report(path, None, None, NOW + timedelta(days=3))
    assert len(report.runs) == 3 and report.log.ok


def test_copytruncate_rotation_and_dated_names_chain_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audited_run(path, NOW)
    # logrotate's `copytruncate` with `dateext`: copied aside, then the live file emptied.
    shutil.copy(path, tmp_path / "audit.jsonl-20261126")
    os.truncate(path, 0)
    audited_run(path, NOW + timedelta(days=1))

    previous = json.loads((tmp_path / "audit.jsonl-20261126").read_bytes().splitlines()[-1])
    first_live = json.loads(path.read_bytes().splitlines()[0])
    assert first_live["prev"] == previous["hash"] and first_live["seq"] == previous["seq"] + 1
    assert verify_log(path).ok and verify_log(path).runs == 2


def test_an_edit_or_a_missing_file_in_the_set_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audited_run(path, NOW)
    rotated = rotate(path, ".1")
    audited_run(path, NOW + timedelta(days=1))
    lines = rotated.read_bytes().splitlines(keepends=True)
    record: dict[str, Any] = json.loads(lines[1])
    record["data"]["certificates"] = []
    rotated.write_bytes(b"".join([lines[0], json.dumps(record).encode() + b"\n", *lines[2:]]))

    edited = verify_log(path)
    assert not edited.ok and edited.path == str(rotated) and edited.line == 2
    assert edited.problem is not None and edited.problem.startswith("audit.jsonl.1: line 2: ")

    rotated.unlink()
    missing = verify_log(path)
    assert not missing.ok and missing.line == 1
    assert missing.problem is not None and "does not chain to the start" in missing.problem


def test_csv_cells_stay_within_spreadsheet_limits_and_json_keeps_all(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=lambda: NOW)
    log.start_run(config_path="c.toml", backend="local")
    facts = incident()
    system = InMemoryTicketSystem(clock=lambda: NOW)
    plan = decide(facts, [], Policy(), NOW)
    reason = "why " * 20_000  # 80,000 characters: a hostile or runaway ticket text
    actions = (replace(plan.actions[0], reason=reason), *plan.actions[1:])
    report = apply_plan(replace(plan, actions=actions), system, on_result=log.action)
    log.finish_run(report, exit_code=0)

    built = build_report(path, None, None, NOW)
    rows = list(csv.reader(io.StringIO(render(built, "csv"))))
    cut = [cell for row in rows for cell in row if "characters: the JSON report has all" in cell]

    assert all(len(cell) <= CSV_CELL_LIMIT for row in rows for cell in row)
    assert len(cut) == 1 and cut[0].startswith("why why") and f"of {len(reason)}" in cut[0]
    assert reason in {change["reason"] for change in json.loads(render(built, "json"))["changes"]}


@pytest.fixture(autouse=True)
def _no_stray_tracing() -> None:
    assert not tracemalloc.is_tracing()


def test_a_crash_on_the_first_write_after_rotation_is_repaired_onto_the_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    audited_run(path, NOW)
    rotate(path, ".1")
    path.write_bytes(b'{"seq": 9, "ti')  # the new file's first record, cut short by a crash

    audited_run(path, NOW + timedelta(days=1))

    # Line 1 is the damage; the repair after it continues the rotated file's chain.
    repair = json.loads(path.read_bytes().splitlines()[1])
    assert repair["event"] == "log_repaired" and repair["seq"] > 1
    verdict = verify_log(path)
    assert verdict.ok, verdict.problem
    assert verdict.runs == 2 and len(verdict.files) == 2
