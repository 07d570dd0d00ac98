"""A long audit log written fast: months of hourly runs, each record chained as AuditLog chains it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from ticketbridge.audit.chain import GENESIS, canonical_json, record_hash
from ticketbridge.core.timefmt import iso_z


def _certificates(count: int, day: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{n:016x}",
            "names": [f"host{n}.example.com", f"alt{n}.example.com"],
            "effective_not_after": f"2027-{1 + n % 12:02d}-{1 + n % 28:02d}T12:00:00Z",
            "fingerprints": [f"{n + day:064x}"],
            "endpoints": [f"host{n}.example.com:443@192.0.2.{n % 250}"],
        }
        for n in range(count)
    ]


def _run(run: str, day: int, certificates: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """One scheduled run's records: start, what it saw, one change, finish."""
    yield "run_started", {"version": "1", "config_path": "c.toml", "backend": "local", "host": "h"}
    yield "observed", {"certificates": _certificates(certificates, day), "unobserved": []}
    yield (
        "action",
        {
            "kind": "update",
            "ticket": f"OPS-{day}",
            "certificate": {"id": f"{day % certificates:016x}", "names": ["x.example.com"]},
            "fields": {"duedate": {"from": "2027-01-01", "to": "2026-12-20"}},
            "reason": "due date tracked another certificate",
            "applied": True,
            "error": None,
        },
    )
    yield "run_finished", {"summary": {"update": 1}, "applied": 1, "failed": 0, "exit_code": 0}


class ChainWriter:
    """Appends chained records to an open file, as AuditLog does (without locks or fsync)."""

    def __init__(self, handle: BinaryIO, seq: int = 0, head: str = GENESIS) -> None:
        self.handle, self.seq, self.head = handle, seq, head

    def write(self, time: datetime, run: str, event: str, data: dict[str, Any]) -> None:
        record: dict[str, Any] = {
            "seq": self.seq + 1,
            "time": iso_z(time),
            "run": run,
            "event": event,
            "data": data,
            "prev": self.head,
            "schema": 1,
        }
        record["hash"] = record_hash(record)
        self.handle.write(canonical_json(record) + b"\n")
        self.seq, self.head = record["seq"], record["hash"]


def write_long_log(
    path: Path, *, start: datetime, runs: int, every: timedelta, certificates: int
) -> int:
    """`runs` runs, one every `every` from `start`; returns the file's size in bytes."""
    with path.open("wb") as handle:
        writer = ChainWriter(handle)
        for number in range(runs):
            moment = start + every * number
            for event, data in _run(f"run{number:08d}", number, certificates):
                writer.write(moment, f"run{number:08d}", event, data)
    return path.stat().st_size
