"""The hash chain of the audit log: what a record is, how its hash is computed, how a whole
log is verified and read; no writing (that is log.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ticketbridge.audit.segments import log_segments, open_segment
from ticketbridge.errors import AuditLogError

__all__ = [
    "GENESIS",
    "REPAIR_EVENT",
    "Entry",
    "LogWalk",
    "RecentRuns",
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
    # Every file walked, oldest first: the rotated ones, then the live log.
    files: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verified": self.ok,
            "records": self.records,
            "runs": self.runs,
            "head": self.head,
            "problem": self.problem,
            "line": self.line,
            "files": list(self.files),
        }


# Lines longer than this are read a chunk at a time; a line that does not open like a record
# (`{`) is never held whole, so a crash's tail of a gigabyte of NULs costs one chunk of memory.
_CHUNK = 1024 * 1024
# A record line is held whole to be parsed, up to this size; past it, it is damage.
_RECORD_LIMIT = 256 * 1024 * 1024


class RecentRuns:
    """Distinct run ids, remembering only the last few: a run's records are written within
    minutes of each other (runs hold the run lock; a dry run may interleave with one), so a
    run id unseen among the last `capacity` runs is a new run, and a log of years costs no
    more memory to count than a day of it."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.recent: dict[str, None] = {}
        self.count = 0

    def add(self, run: str) -> bool:
        """Whether `run` is new (and now remembered)."""
        if run in self.recent:
            return False
        self.recent[run] = None
        if len(self.recent) > self.capacity:
            del self.recent[next(iter(self.recent))]
        self.count += 1
        return True


@dataclass(frozen=True, slots=True)
class Entry:
    """One record as the walk met it: which file and line, and whether the chain held so far."""

    path: Path
    line: int
    record: dict[str, Any]
    verified: bool


class LogWalk:
    """One pass over the whole chain, every rotated file then the live one, in linear time and
    bounded memory: yields each record, marked verified while the chain holds; after the walk,
    `verification` is the verdict. With `stop_at_break`, the walk ends at the first break."""

    def __init__(self, path: Path, *, stop_at_break: bool = False) -> None:
        self.path = Path(path)
        self.stop_at_break = stop_at_break
        self.head = GENESIS
        self.head_at = ""
        self.seq = 0
        self.records = 0
        self.runs = RecentRuns()
        self.broken: tuple[str, Path, int] | None = None
        self.segments: list[Path] = []
        # Unparseable lines not yet set aside by a repair: where they start, and their digest.
        self.damaged_line: int | None = None
        self.damaged_digest = hashlib.sha256()
        self.verification: Verification | None = None

    def __iter__(self) -> Iterator[Entry]:
        try:
            yield from self._walk()
        except AuditLogError as exc:
            self._break(str(exc), self.path, 0)
        except OSError as exc:
            self._break(
                f"{self.path}: cannot read the audit log: {exc.strerror or exc}", self.path, 0
            )
        self.verification = self._verdict()

    def _walk(self) -> Iterator[Entry]:
        self.segments = log_segments(self.path)
        if not self.segments:
            self._break(f"{self.path}: no audit log here (it does not exist)", self.path, 0)
            return
        for segment in self.segments:
            with open_segment(segment) as handle:
                for number, content in self._lines(segment, handle):
                    if self.stop_at_break and self.broken:
                        return
                    if content is None:
                        continue  # damage, already fed to the digest as it was read
                    record = parse_record(content)
                    if record is None:
                        self._damaged(number, content)
                        continue
                    if self.broken is None:
                        self._check(segment, number, record)
                    yield Entry(segment, number, record, self.broken is None)
            if self.damaged_line is not None and self.broken is None:
                self._break(
                    f"line {self.damaged_line}: an incomplete or unreadable record at the end of "
                    "the log (an interrupted write?), not yet repaired by a log_repaired record",
                    segment,
                    self.damaged_line,
                )

    def _lines(self, segment: Path, handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
        """(line number, content without its newline); None for a damaged line already fed
        to the damage digest a chunk at a time."""
        number = 0
        while piece := handle.readline(_CHUNK):
            number += 1
            if piece.endswith(b"\n"):
                yield number, piece[:-1]
                continue
            held: list[bytes] | None = [piece] if piece.startswith(b"{") else None
            if held is None:
                self._damaged(number, piece)
            size = len(piece)
            while len(piece) == _CHUNK and not piece.endswith(b"\n"):
                piece = handle.readline(_CHUNK)
                size += len(piece)
                if held is not None and size > _RECORD_LIMIT:
                    self._damaged(number, b"".join(held))
                    held = None
                chunk = piece.removesuffix(b"\n")
                if held is not None:
                    held.append(chunk)
                else:
                    self.damaged_digest.update(chunk)
            yield number, (b"".join(held).removesuffix(b"\n") if held is not None else None)

    def _damaged(self, number: int, content: bytes) -> None:
        if self.damaged_line is None:
            self.damaged_line = number
            self.damaged_digest = hashlib.sha256()
        else:
            self.damaged_digest.update(b"\n")
        self.damaged_digest.update(content)

    def _break(self, problem: str, segment: Path, line: int) -> None:
        if self.broken is None:
            if len(self.segments) > 1 and line:
                problem = f"{segment.name}: {problem}"
            self.broken = (problem, segment, line)

    def _verdict(self) -> Verification:
        problem, segment, line = self.broken or (None, self.path, None)
        return Verification(
            ok=problem is None,
            records=self.records,
            head=None if self.records == 0 else self.head,
            problem=problem,
            runs=self.runs.count,
            path=str(segment if problem is not None else self.path),
            line=line or None,
            files=tuple(str(s) for s in self.segments),
        )

    def _check(self, segment: Path, number: int, record: dict[str, Any]) -> None:
        problem = self._check_repair(record) if self.damaged_line is not None else None
        if problem is not None:
            self._break(problem[0], segment, problem[1])
            return
        if record_hash(record) != record["hash"]:
            self._break(
                f"line {number}: the hash does not match the record (it was altered)",
                segment,
                number,
            )
            return
        if record["prev"] != self.head:
            after = self.head_at or "the start of the log"
            self._break(
                f"line {number}: prev does not chain to {after} "
                "(a record was deleted, inserted, reordered or rewritten)",
                segment,
                number,
            )
            return
        if record["seq"] != self.seq + 1:
            self._break(
                f"line {number}: seq {record['seq']} follows seq {self.seq}", segment, number
            )
            return
        self.head, self.seq = record["hash"], record["seq"]
        self.head_at = f"line {number}" if segment == self.path else f"{segment.name} line {number}"
        self.records += 1
        self.runs.add(record["run"])

    def _check_repair(self, record: dict[str, Any]) -> tuple[str, int] | None:
        """Damaged lines are accepted only when the next record is the log_repaired naming
        exactly them: anything else is an edit."""
        number = self.damaged_line
        assert number is not None
        data = record["data"]
        matches = (
            record["event"] == REPAIR_EVENT
            and data.get("line") == number
            and data.get("sha256") == self.damaged_digest.hexdigest()
        )
        self.damaged_line = None
        if not matches:
            return (
                f"line {number}: not an audit record, and not set aside by a log_repaired record "
                "right after it",
                number,
            )
        return None


def verify_log(path: Path) -> Verification:
    """Check every line of the log and its rotated files: hashes, the chain, sequence numbers
    and repairs."""
    walk = LogWalk(Path(path), stop_at_break=True)
    for _ in walk:
        pass
    assert walk.verification is not None
    return walk.verification


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every line that is a record in shape, in chain order across rotated files; damaged
    lines are skipped.

    This does not verify anything: call `verify_log` to know whether to trust what it yields.
    """
    for entry in LogWalk(Path(path)):
        yield entry.record


def read_numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_records` with each record's line number (in its own file)."""
    for entry in LogWalk(Path(path)):
        yield entry.line, entry.record
