"""Evidence files (the audit log, the embedded ticket store): opened without following a
symlink, refused unless regular files, and a warning when other users may read or write them."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from ticketbridge.errors import AuditLogError

log = logging.getLogger("ticketbridge")

# Group and others: any of their bits on an evidence file is looser than 0600.
_LOOSE = stat.S_IRWXG | stat.S_IRWXO


def open_evidence(path: Path, flags: int, mode: int = 0o600) -> int:
    """`os.open` with O_NOFOLLOW: a symlink planted at the log path would have the records
    appended to (or read from) whatever it points at."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AuditLogError(f"{path}: is a symlink; refusing to follow it") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AuditLogError(f"{path}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def warn_if_loose(path: Path, fd: int | None = None) -> bool:
    """Warn (once per call) when the file's mode gives group or others any access; True if so."""
    try:
        status = os.fstat(fd) if fd is not None else os.lstat(path)
    except OSError:
        return False
    loose = status.st_mode & _LOOSE
    if loose:
        log.warning(
            "%s: mode %04o lets other users read or change the evidence; chmod 600 it",
            path,
            stat.S_IMODE(status.st_mode),
        )
    return bool(loose)
