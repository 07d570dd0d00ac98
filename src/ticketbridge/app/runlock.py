"""The run lock: one reconcile at a time per lock file, released by the kernel when a run dies."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import LockError, LockHeld
from ticketbridge.infra.clock import utcnow

__all__ = ["LockError", "LockHeld", "LockHolder", "RunLock"]


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds the lock, as the holder wrote it into the lock file (best effort)."""

    pid: int | None
    started_at: datetime | None
    host: str | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "an unknown process"
        where = f" on {self.host}" if self.host else ""
        when = ""
        if self.started_at is not None:
            when = f", started {iso_z(self.started_at)}"
        return f"pid {self.pid}{where}{when}"


class RunLock:
    """An exclusive, non-blocking `flock` on a lock file, used as a context manager.

    The kernel drops a flock when its holder exits, however it exits (SIGKILL, OOM kill), so
    a dead run never wedges the next one and there is no stale-lock cleanup to get wrong.
    The file itself is never deleted: unlinking a flock file lets two processes each lock
    a different inode of "the same" path. flock is not reliable on NFS; keep it local.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise LockError(f"{self.path}: already held by this RunLock")
        try:
            # Not inheritable (PEP 446): a child that outlives us must not keep the lock.
            # O_NOFOLLOW: a symlink planted at the lock path would have us truncate its target.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockError(
                    f"{self.path}: the lock file is a symlink; refusing to follow it"
                ) from None
            raise LockError(f"{self.path}: cannot open lock file: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockError(f"{self.path}: the lock file is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(self.path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise LockError(f"{self.path}: cannot lock: {exc.strerror}") from exc
        self._fd = fd
        _write_holder(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Emptied while still locked, so a reader never sees a finished run as the holder.
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _write_holder(fd: int) -> None:
    record = {
        "pid": os.getpid(),
        "started_at": iso_z(utcnow()),
        "host": socket.gethostname(),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _read_holder(fd: int) -> LockHolder:
    # The holder may be between truncating and writing: an unreadable record means "unknown",
    # never a reason to fail differently.
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"null")
        pid = record["pid"]
        started_at = datetime.fromisoformat(record["started_at"])
        host = record.get("host")
    except (OSError, ValueError, TypeError, KeyError):
        return LockHolder(pid=None, started_at=None)
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        started_at=started_at,
        host=host if isinstance(host, str) else None,
    )
