"""The hash chain of the audit log: what a record is, how its hash is computed, how a whole
log is verified and read; no writing (that is log.py)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticketbridge.audit.evidence import open_evidence
from ticketbridge.errors import AuditLogError

__all__ = [
    "GENESIS",
    "REPAIR_EVENT",
    "Verification",
    "canonical_json",
    "parse_record",
    "read_numbered_records",
    "read_records",
    "record_hash",
    "verify_log",
]

# The `prev` of the first record: no record came before it.
GENESIS = "0" * 64
REPAIR_EVENT = "log_repaired"
_FIELDS = ("seq", "time", "run", "event", "data", "prev", "hash")


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: key order and whitespace can never change the hash."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of `record` without its `hash` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def parse_record(line: bytes) -> dict[str, Any] | None:
    """A record if `line` (without its newline) is one in shape; None for anything else."""
    try:
        document = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(document, dict) or any(key not in document for key in _FIELDS):
        return None
    seq = document["seq"]
    # bool is an int to Python; `true` is not a sequence number.
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    texts = ("time", "run", "event", "prev", "hash")
    if not all(isinstance(document[key], str) for key in texts):
        return None
    if not isinstance(document["data"], dict):
        return None
    return document


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict on a whole log: `problem` names the first broken line, and what broke."""

    ok: bool
    records: int
    head: str | None
    problem: str | None
    runs: int
    path: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verified": self.ok,
            "records": self.records,
            "runs": self.runs,
            "head": self.head,
            "problem": self.problem,
            "line": self.line,
        }


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, content without newline, whether it was newline-terminated)."""
    with os.fdopen(open_evidence(path, os.O_RDONLY), "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            terminated = raw.endswith(b"\n")
            yield number, raw[:-1] if terminated else raw, terminated


class _Verifier:
    """Walks the chain one line at a time; stops at the first broken line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = GENESIS
        self.head_line = 0
        self.seq = 0
        self.records = 0
        self.runs: set[str] = set()
        self.damaged: list[tuple[int, bytes]] = []

    def result(self, problem: str | None = None, line: int | None = None) -> Verification:
        return Verification(
            ok=problem is None,
            records=self.records,
            head=None if self.records == 0 else self.head,
            problem=problem,
            runs=len(self.runs),
            path=str(self.path),
            line=line,
        )

    def run(self) -> Verification:
        for number, content, _ in _lines(self.path):
            record = parse_record(content)
            if record is None:
                self.damaged.append((number, content))
                continue
            problem = self._check(number, record)
            if problem is not None:
                return self.result(*problem)
        if self.damaged:
            number = self.damaged[0][0]
            return self.result(
                f"line {number}: an incomplete or unreadable record at the end of the log "
                "(an interrupted write?), not yet repaired by a log_repaired record",
                number,
            )
        return self.result()

    def _check(self, number: int, record: dict[str, Any]) -> tuple[str, int] | None:
        if self.damaged:
            problem = self._check_repair(record)
            if problem is not None:
                return problem
        if record_hash(record) != record["hash"]:
            return (f"line {number}: the hash does not match the record (it was altered)", number)
        if record["prev"] != self.head:
            after = f"line {self.head_line}" if self.head_line else "the start of the log"
            return (
                f"line {number}: prev does not chain to {after} "
                "(a record was deleted, inserted, reordered or rewritten)",
                number,
            )
        if record["seq"] != self.seq + 1:
            return (f"line {number}: seq {record['seq']} follows seq {self.seq}", number)
        self.head, self.head_line, self.seq = record["hash"], number, record["seq"]
        self.records += 1
        self.runs.add(record["run"])
        return None

    def _check_repair(self, record: dict[str, Any]) -> tuple[str, int] | None:
        """Damaged lines are accepted only when the next record is the log_repaired naming
        exactly them: anything else is an edit."""
        number = self.damaged[0][0]
        damaged = b"\n".join(content for _, content in self.damaged)
        data = record["data"]
        matches = (
            record["event"] == REPAIR_EVENT
            and data.get("line") == number
            and data.get("sha256") == hashlib.sha256(damaged).hexdigest()
        )
        self.damaged = []
        if not matches:
            return (
                f"line {number}: not an audit record, and not set aside by a log_repaired record "
                "right after it",
                number,
            )
        return None


def verify_log(path: Path) -> Verification:
    """Check every line of the log: hashes, the chain, sequence numbers and repairs."""
    path = Path(path)
    if not path.exists():
        return Verification(
            ok=False,
            records=0,
            head=None,
            problem=f"{path}: no audit log here (it does not exist)",
            runs=0,
            path=str(path),
        )
    try:
        return _Verifier(path).run()
    except AuditLogError as exc:
        return Verification(
            ok=False, records=0, head=None, problem=str(exc), runs=0, path=str(path)
        )
    except OSError as exc:
        return Verification(
            ok=False,
            records=0,
            head=None,
            problem=f"{path}: cannot read the audit log: {exc.strerror or exc}",
            runs=0,
            path=str(path),
        )


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every line that is a record in shape, in file order; damaged lines are skipped.

    This does not verify anything: call `verify_log` to know whether to trust what it yields.
    """
    for _, record in read_numbered_records(path):
        yield record


def read_numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_records` with each record's line number, to set it against a verdict's `line`."""
    for number, content, _ in _lines(Path(path)):
        record = parse_record(content)
        if record is not None:
            yield number, record
