"""The audit log: hash-chained JSONL records of every run, appended durably, verifiable offline."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ticketbridge import __version__
from ticketbridge.audit import records
from ticketbridge.audit.chain import (
    GENESIS,
    REPAIR_EVENT,
    Verification,
    canonical_json,
    parse_record,
    read_numbered_records,
    read_records,
    record_hash,
    verify_log,
)
from ticketbridge.audit.evidence import open_evidence, warn_if_loose
from ticketbridge.audit.records import (
    SCHEMA_VERSION,
    ActionOutcome,
    Approval,
    ExceptionRecord,
    Intent,
    IntentResolved,
    Observed,
    Planned,
    PlanStale,
    RunFinished,
    RunStarted,
)
from ticketbridge.audit.segments import open_segment, rotated_segments
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import AuditLogError
from ticketbridge.infra.clock import utcnow

if TYPE_CHECKING:  # the CLI imports this module for its error type: keep start-up light
    from ticketbridge.core.apply import ActionResult, ApplyReport
    from ticketbridge.core.ctfindings import CtFindings
    from ticketbridge.core.exceptions import ExceptionStanding
    from ticketbridge.core.inventory import Inventory

__all__ = [
    "GENESIS",
    "REPAIR_EVENT",
    "AuditLog",
    "AuditLogError",
    "Verification",
    "canonical_json",
    "read_numbered_records",
    "read_records",
    "record_hash",
    "verify_log",
]

_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Tail:
    """What an appender must know about the end of the file before it writes."""

    size: int
    seq: int
    head: str
    # Bytes after the last complete record that are not a record: an interrupted write.
    damaged_from: int | None
    ends_with_newline: bool


class AuditLog:
    """Appends one run's records to the hash chain; one instance per run.

    Every append takes an exclusive `flock`, so a dry run and a scheduled run writing at once
    still make one chain, and is fsync'd before returning, so a crash loses at most the record
    being written. The head of the chain is cached and re-read only when the file changed size
    behind our back.
    """

    def __init__(self, path: Path, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = Path(path)
        self.clock = clock
        self.run: str | None = None
        self._tail: _Tail | None = None
        self._mode_checked = False
        # Who let this run write, and which plan: stamped on every action and on run_finished.
        self.approval = Approval()

    def start_run(
        self,
        *,
        config_path: str,
        backend: str,
        policy: Mapping[str, Any] | None = None,
        approval: Approval | None = None,
    ) -> str:
        """Write `run_started` and return the new run id. Only the path, backend name and
        `[policy]` (lead days, horizons, timezone: the control's parameters, which the report
        shows as in force) are recorded from the configuration: the rest may hold credentials."""
        self.run = uuid.uuid4().hex
        self.approval = approval if approval is not None else Approval()
        started = RunStarted(
            __version__, config_path, backend, socket.gethostname(), policy, self.approval
        )
        self._append(records.RUN_STARTED, started.data())
        return self.run

    def planned(self, plan_id: str, inputs: dict[str, Any], writes: int) -> None:
        """Write the fresh plan's id and inputs; an automatic run's actions then carry its id."""
        if self.approval.approved_by is None:
            self.approval = Approval(plan_id=plan_id)
        fresh = Approval(self.approval.approved_by, plan_id)
        self._append(records.PLANNED, Planned(fresh, inputs, writes).data())

    def plan_stale(self, fresh_plan_id: str, reasons: tuple[str, ...]) -> None:
        """Write why an approved plan was refused (nothing is written to any ticket)."""
        self._append(records.PLAN_STALE, PlanStale(self.approval, fresh_plan_id, reasons).data())

    def exception(self, standing: ExceptionStanding) -> None:
        """Write one `[[exceptions]]` entry's standing this run (see core.exceptions)."""
        self._append(records.EXCEPTION, ExceptionRecord(standing).data())

    def observed(self, inventory: Inventory) -> None:
        """Write what this run saw: tracked certificates and the endpoints it could not probe."""
        self._append(records.OBSERVED, Observed(inventory).data())

    def ct_findings(self, findings: CtFindings) -> None:
        """Write what CT showed against what this run saw served (`[[sources.ct]]`)."""
        from ticketbridge.audit.ct import CT_FINDINGS, ct_findings_data

        self._append(CT_FINDINGS, ct_findings_data(findings))

    def intent(self, intent: Intent) -> int:
        """Write, and fsync, a write about to be made; its sequence number names it."""
        return self._append(records.INTENT, intent.data())

    def action(self, result: ActionResult) -> None:
        """Write one action's outcome as it happens (apply_plan's `on_result`)."""
        self._append(records.ACTION, ActionOutcome(result, self.approval).data())

    def intent_resolved(self, resolved: IntentResolved) -> None:
        self._append(records.INTENT_RESOLVED, resolved.data())

    def finish_run(
        self, report: ApplyReport | None, exit_code: int, *, error: str | None = None
    ) -> None:
        """Write `run_finished`; `report` is None when nothing was applied (dry run, refusal,
        or a failure before applying), and `error` says why a run failed, if it did."""
        finished = RunFinished(report, exit_code, error, self.approval)
        self._append(records.RUN_FINISHED, finished.data())

    def _append(self, event: str, data: dict[str, Any]) -> int:
        if self.run is None:
            raise AuditLogError(f"{self.path}: start_run() must come before {event} records")
        try:
            return self._locked_append(event, data)
        except OSError as exc:
            # What reached the disk is unknown: the next append re-reads the tail.
            self._tail = None
            reason = exc.strerror or str(exc)
            raise AuditLogError(f"{self.path}: cannot append to the audit log: {reason}") from exc

    def _locked_append(self, event: str, data: dict[str, Any]) -> int:
        assert self.run is not None
        created = not self.path.exists()
        if created:
            # A log in its own directory (e.g. /var/log/ticketbridge) works on the first run.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = open_evidence(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if not self._mode_checked:
                self._mode_checked = True
                warn_if_loose(self.path, fd)
            tail = self._tail
            if tail is None or tail.size != size:
                tail = _scan_tail(fd, size, self.path)
            payload = bytearray()
            seq, head = tail.seq, tail.head
            if tail.damaged_from is not None:
                repair, seq, head = self._repair(fd, tail, seq, head)
                if not tail.ends_with_newline:
                    payload += b"\n"
                payload += repair
            elif size and not tail.ends_with_newline:
                # The last record is whole but lost its newline to a crash: terminate it.
                payload += b"\n"
            line, seq, head = self._record(event, data, seq, head)
            payload += line
            _write_whole(fd, size, bytes(payload))
            self._tail = _Tail(size + len(payload), seq, head, None, True)
        finally:
            os.close(fd)
        if created:
            _fsync_directory(self.path.parent)
        return seq

    def _record(
        self, event: str, data: dict[str, Any], seq: int, prev: str
    ) -> tuple[bytes, int, str]:
        assert self.run is not None
        record: dict[str, Any] = {
            "seq": seq + 1,
            "time": iso_z(self.clock()),
            "run": self.run,
            "event": event,
            "data": data,
            "prev": prev,
            "schema": SCHEMA_VERSION,
        }
        record["hash"] = record_hash(record)
        return canonical_json(record) + b"\n", seq + 1, record["hash"]

    def _repair(self, fd: int, tail: _Tail, seq: int, head: str) -> tuple[bytes, int, str]:
        """A `log_repaired` record naming the damaged bytes, so the next record does not
        silently continue after them and a verifier can tell a crash from an edit."""
        assert tail.damaged_from is not None
        with _reader(fd) as handle:
            line = _count_newlines(handle, tail.damaged_from) + 1
            digest, length, newlines = _digest_range(handle, tail.damaged_from, tail.size)
        data = {
            "line": line,
            "lines": newlines + 1,
            "bytes": length,
            "sha256": digest,
            "reason": "an incomplete record, left by an interrupted write, was set aside",
        }
        return self._record(REPAIR_EVENT, data, seq, head)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable too; best effort where directories can't be
    opened (some network filesystems)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _count_newlines(handle: Any, end: int) -> int:
    handle.seek(0)
    count, remaining = 0, end
    while remaining > 0:
        chunk = handle.read(min(_BLOCK, remaining))
        if not chunk:
            break
        count += chunk.count(b"\n")
        remaining -= len(chunk)
    return count


def _digest_range(handle: BinaryIO, start: int, end: int) -> tuple[str, int, int]:
    """SHA-256, length and newline count of the bytes in [start, end) without a final newline,
    read a block at a time: a damaged tail is never held in memory whole."""
    if end > start and _byte_at(handle, end - 1) == b"\n":
        end -= 1
    digest, newlines, position = hashlib.sha256(), 0, start
    handle.seek(start)
    while position < end:
        block = handle.read(min(_BLOCK, end - position))
        if not block:
            break
        digest.update(block)
        newlines += block.count(b"\n")
        position += len(block)
    return digest.hexdigest(), position - start, newlines


def _reader(fd: int) -> BinaryIO:
    """A buffered reader of the file already open (and checked) as `fd`: never the path again,
    which could by now name something else."""
    return os.fdopen(os.dup(fd), "rb")


def _write_whole(fd: int, size: int, payload: bytes) -> None:
    """Append all of `payload` durably, or none of it: on a full disk a short write is cut
    back off (we hold the flock), so no torn record is left for the next run to set aside."""
    try:
        _write_all(fd, payload)
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _scan_tail(fd: int, size: int, path: Path) -> _Tail:
    """Find the last record by reading backwards from the end: a log of years costs the same
    to append to as an empty one, and a damaged tail (a crash can leave gigabytes of NULs) is
    read once, a block at a time, never parsed nor held whole. An empty live file after a
    rotation chains on from the newest rotated file's head."""
    if size == 0:
        seq, head = previous_head(path)
        return _Tail(0, seq, head, None, True)
    with _reader(fd) as handle:
        handle.seek(size - 1)
        ends_with_newline = handle.read(1) == b"\n"
        for start, end in _lines_backwards(handle, size):
            record = _record_at(handle, start, end)
            if record is None:
                continue
            # The record's newline, if it has one, is not damage.
            after = end + 1 if end < size else end
            if after >= size:
                return _Tail(size, record["seq"], record["hash"], None, ends_with_newline)
            return _Tail(size, record["seq"], record["hash"], after, ends_with_newline)
    # No record at all: everything in the file is damaged. The repair chains on from where a
    # rotated log left off, as the first record of a new file would.
    seq, head = previous_head(path)
    return _Tail(size, seq, head, 0, ends_with_newline)


def _lines_backwards(handle: BinaryIO, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of each line's content, the last line first, without newlines."""
    end = size - 1 if size and _byte_at(handle, size - 1) == b"\n" else size
    position = end
    while position > 0:
        step = min(_BLOCK, position)
        handle.seek(position - step)
        block = handle.read(step)
        base = position - step
        cut = len(block)
        while (newline := block.rfind(b"\n", 0, cut)) >= 0:
            yield base + newline + 1, end
            end = base + newline
            cut = newline
        position = base
    yield 0, end


def _byte_at(handle: BinaryIO, offset: int) -> bytes:
    handle.seek(offset)
    return handle.read(1)


def _record_at(handle: BinaryIO, start: int, end: int) -> dict[str, Any] | None:
    """The record on the line at [start, end); a line that does not open with `{` (NULs,
    garbage) is skipped on its first byte, so damage is never read twice."""
    if end - start < 2 or _byte_at(handle, start) != b"{" or _byte_at(handle, end - 1) != b"}":
        return None
    handle.seek(start)
    return parse_record(handle.read(end - start))


def previous_head(path: Path) -> tuple[int, str]:
    """(seq, hash) of the newest rotated file's last record: where a rotated log's new live
    file chains on from; (0, GENESIS) when nothing was rotated."""
    for segment in reversed(rotated_segments(path)):
        found = _last_record_of(segment)
        if found is not None:
            return found
    return 0, GENESIS


def _last_record_of(segment: Path) -> tuple[int, str] | None:
    if segment.name.endswith(".gz"):
        last = None
        with open_segment(segment) as handle:
            for line in handle:
                record = parse_record(line.rstrip(b"\n"))
                if record is not None:
                    last = (record["seq"], record["hash"])
        return last
    with open_segment(segment) as handle:
        size = os.fstat(handle.fileno()).st_size
        for start, end in _lines_backwards(handle, size):
            record = _record_at(handle, start, end)
            if record is not None:
                return record["seq"], record["hash"]
    return None
