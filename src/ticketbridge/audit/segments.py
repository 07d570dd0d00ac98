"""A rotated audit log as one chain: which files belong to it, in which order, and how to read them.

The live file is `[audit] log_path`. Rotation (logrotate, by size or by date, `create` or
`copytruncate`) renames or copies it to a sibling whose name is `log_path` plus one suffix:
`.1`, `.2` … (logrotate's default numbering), `-20261204` (logrotate's `dateext`) or
`.2026-12-04`, each optionally `.gz` (logrotate's `compress`). The suffix only says a file
belongs to the set: the set is ordered by the sequence number of each file's first record, so
any of these schemes (or a mix, after changing schemes) walks in chain order. The live file
comes last. The next record written to an empty live file chains on from the newest rotated
file's head, so `audit verify` checks one unbroken chain across the set.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ticketbridge.audit.evidence import open_evidence
from ticketbridge.errors import AuditLogError

__all__ = ["ROTATED_SUFFIX", "log_segments", "open_segment", "rotated_segments"]

# `.1`, `.12`, `-20261204`, `.2026-12-04`, then an optional `.gz`.
ROTATED_SUFFIX = re.compile(r"(?:\.\d{1,6}|-\d{8}|\.\d{4}-\d{2}-\d{2})(?:\.gz)?")
# How far into a file to look for its first record (whose `seq` orders the set): past a
# damaged start, a file this far in without a record sorts by its name.
_FIRST_LINE_LIMIT = 64 * 1024 * 1024
# Lines are read at most this long at a time: damage (a run of NULs) is never held whole.
_LINE_LIMIT = 1024 * 1024


@contextmanager
def open_segment(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes (decompressed if `.gz`), opened as evidence: no symlink, regular file."""
    raw = os.fdopen(open_evidence(path, os.O_RDONLY), "rb")
    try:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw
    finally:
        raw.close()


def rotated_segments(path: Path) -> list[Path]:
    """The rotated files of the log at `path`, oldest first (not the live file itself)."""
    path = Path(path)
    try:
        names = [entry.name for entry in path.parent.iterdir()]
    except OSError:
        return []
    prefix = path.name
    found = [
        path.parent / name
        for name in names
        if name.startswith(prefix) and ROTATED_SUFFIX.fullmatch(name[len(prefix) :])
    ]
    ordered = sorted(found, key=lambda segment: (_first_seq(segment), _age_from_name(segment)))
    return [segment for segment in ordered if not segment.is_symlink()]


def log_segments(path: Path) -> list[Path]:
    """Every file of the chain in order: the rotated ones, then the live file if it exists."""
    path = Path(path)
    live = [path] if path.exists() or path.is_symlink() else []
    return [*rotated_segments(path), *live]


def _age_from_name(segment: Path) -> tuple[int, str]:
    """A tie-break for files with no readable first record: `.2` is older than `.1`."""
    suffix = segment.name.removesuffix(".gz").rsplit(".", 1)[-1]
    return (-int(suffix), "") if suffix.isdigit() else (0, segment.name)


def _first_seq(segment: Path) -> int:
    from ticketbridge.audit.chain import parse_record

    try:
        with open_segment(segment) as handle:
            read = 0
            while read < _FIRST_LINE_LIMIT and (line := handle.readline(_LINE_LIMIT)):
                read += len(line)
                record = parse_record(line.rstrip(b"\n"))
                if record is not None:
                    return int(record["seq"])
    except (OSError, EOFError, AuditLogError):
        return 0  # an unreadable file sorts first, where the walk will name it
    return 0
