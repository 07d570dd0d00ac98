"""The audit log: hash-chained JSONL records of every run, appended durably, verifiable offline."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import uuid
from collections.abc import Callable
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
    Intent,
    IntentResolved,
    Observed,
    RunFinished,
    RunStarted,
)
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import AuditLogError
from ticketbridge.infra.clock import utcnow

if TYPE_CHECKING:  # the CLI imports this module for its error type: keep start-up light
    from ticketbridge.core.apply import ActionResult, ApplyReport
    from ticketbridge.core.ctfindings import CtFindings
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

    def start_run(self, *, config_path: str, backend: str) -> str:
        """Write `run_started` and return the new run id. Only the path and backend name are
        recorded from the configuration: the rest may hold credentials."""
        self.run = uuid.uuid4().hex
        started = RunStarted(__version__, config_path, backend, socket.gethostname())
        self._append(records.RUN_STARTED, started.data())
        return self.run

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
        self._append(records.ACTION, ActionOutcome(result).data())

    def intent_resolved(self, resolved: IntentResolved) -> None:
        self._append(records.INTENT_RESOLVED, resolved.data())

    def finish_run(
        self, report: ApplyReport | None, exit_code: int, *, error: str | None = None
    ) -> None:
        """Write `run_finished`; `report` is None when nothing was applied (dry run, refusal,
        or a failure before applying), and `error` says why a run failed, if it did."""
        self._append(records.RUN_FINISHED, RunFinished(report, exit_code, error).data())

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
                tail = _scan_tail(fd, size)
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
            handle.seek(tail.damaged_from)
            damaged = handle.read(tail.size - tail.damaged_from)
        damaged = damaged.removesuffix(b"\n")
        data = {
            "line": line,
            "lines": damaged.count(b"\n") + 1,
            "bytes": len(damaged),
            "sha256": hashlib.sha256(damaged).hexdigest(),
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


def _scan_tail(fd: int, size: int) -> _Tail:
    """Find the last record by reading backwards from the end: a log of years costs the same
    to append to as an empty one."""
    if size == 0:
        return _Tail(0, 0, GENESIS, None, True)
    with _reader(fd) as handle:
        handle.seek(size - 1)
        ends_with_newline = handle.read(1) == b"\n"
        data, start = b"", size
        while True:
            step = min(_BLOCK, start)
            start -= step
            handle.seek(start)
            data = handle.read(step) + data
            found = _last_record(data, start, size, ends_with_newline)
            if found is not None:
                return found
            if start == 0:
                # No record at all: everything in the file is damaged.
                return _Tail(size, 0, GENESIS, 0, ends_with_newline)


def _last_record(data: bytes, start: int, size: int, ends_with_newline: bool) -> _Tail | None:
    """The last record among the whole lines of `data` (the file's bytes from `start`)."""
    first = 0
    if start > 0:
        # The first line may be cut by the block boundary: only lines after a newline count.
        newline = data.find(b"\n")
        if newline < 0:
            return None
        first = newline + 1
    lines = data[first:].split(b"\n")
    # Offsets of each line's first byte, absolute in the file.
    offsets, offset = [], start + first
    for line in lines:
        offsets.append(offset)
        offset += len(line) + 1
    for index in range(len(lines) - 1, -1, -1):
        last_line = index == len(lines) - 1
        if last_line and not lines[index]:
            continue  # the empty remainder after the final newline
        record = parse_record(lines[index])
        if record is None:
            continue
        after = offsets[index] + len(lines[index]) + (0 if last_line else 1)
        damaged_from = after if after < size else None
        if damaged_from is None and last_line and not ends_with_newline:
            return _Tail(size, record["seq"], record["hash"], None, False)
        return _Tail(size, record["seq"], record["hash"], damaged_from, ends_with_newline)
    return None
