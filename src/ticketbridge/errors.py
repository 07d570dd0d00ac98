"""Every error ticketbridge raises on purpose: one root, and each kind knows its exit code.

The command line maps a `TicketbridgeError` to one line on stderr and `exit_code` (SPEC's table);
anything else is a bug and gets a hint to rerun with `--debug`. Messages are safe to print: no
secrets, one line. Adapters translate foreign exceptions into these at their boundary, chained
with `from exc` (httpx's `map_httpcore_exceptions`, certbot's `errors.py`).

Exceptions that never leave their module keep the standard library's roots on purpose: a probe's
`ProtocolViolation` or `PeerClosed` is caught as an `OSError`-like failure and classified into an
observation (a failed probe is data, not an error), and the alert transport's `DeadlineExceeded`
is a `TimeoutError` until the sink turns it into a `PagerError`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol


class _LockHolder(Protocol):
    @property
    def pid(self) -> int | None: ...
    @property
    def started_at(self) -> datetime | None: ...

    def describe(self) -> str: ...


EXIT_OK = 0
EXIT_RUN_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES_PENDING = 3
EXIT_UNSAFE_PLAN = 4
EXIT_LOCKED = 5
EXIT_STALE_PLAN = 6
EXIT_INTERRUPTED = 130
# 128 + SIGTERM: what a shell reports for a process SIGTERM killed, and what systemd and
# Kubernetes expect from a service they stopped.
EXIT_TERMINATED = 143


class TicketbridgeError(Exception):
    """The root: a known failure, phrased as one printable line."""

    exit_code: ClassVar[int] = EXIT_RUN_ERROR
    # What the one line on stderr starts with, after `ticketbridge: error: `.
    prefix: ClassVar[str] = ""


class ConfigError(TicketbridgeError):
    """A configuration problem, already phrased as one line: `file: key.path: what is wrong`."""

    exit_code = EXIT_USAGE


class NoConfigError(ConfigError):
    """No config file was given, none is in the working directory, and no setting is in the
    environment: the message says where ticketbridge looked and how to make one."""


class UsageError(TicketbridgeError):
    """A command line that cannot be carried out as given (an --output that cannot be written)."""

    exit_code = EXIT_USAGE


class ObservationsFileError(ConfigError):
    """An `--observations` file that is not JSONL from `scan --format jsonl`."""


class BackendError(TicketbridgeError):
    """A ticket system operation failed; the message is safe to print (no secrets)."""

    prefix = "ticket system: "


class TransientBackendError(BackendError):
    """Worth retrying later: timeouts, 5xx, 429, dropped connections."""


class PermanentBackendError(BackendError):
    """Retrying will not help: bad credentials, missing permission, invalid field."""


class WriteOutcomeUnknown(TransientBackendError):
    """A write that may have landed though its answer was lost, and no search could find it
    yet: it is never sent again in the same run; its intent stays open for the next run."""


class PagerError(TicketbridgeError):
    """An on-call sink refused or could not be reached; the message is safe to print."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread, it unwinds the run exactly as Ctrl-C does.

    A KeyboardInterrupt subclass on purpose: asyncio, `except Exception` clauses and every
    `finally` already treat Ctrl-C as "stop now, but clean up"; SIGTERM deserves the same.
    """

    exit_code: ClassVar[int] = EXIT_TERMINATED


class RunDeadlineExceeded(Terminated):
    """`[run] deadline` passed: the run unwinds as on SIGTERM, but it is a run error (exit 1)."""

    exit_code = EXIT_RUN_ERROR

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the run took longer than its deadline, [run] deadline = {seconds:g} s")
        self.seconds = seconds


class LocalLimitError(TicketbridgeError):
    """A limit of this machine (open files) stopped the scan: never a property of an endpoint."""


class AuditLogError(TicketbridgeError):
    """The audit log cannot be written (permissions, disk, or misuse); the message names the file."""

    prefix = "audit log: "


class LockError(TicketbridgeError):
    """The lock file could not be used at all (missing directory, no permission)."""


class LockHeld(LockError):
    """Another run holds the lock: this run must not start."""

    exit_code = EXIT_LOCKED

    def __init__(self, path: Path, holder: _LockHolder) -> None:
        super().__init__(f"{path}: another ticketbridge run holds the lock ({holder.describe()})")
        self.path = path
        self.holder = holder


class UnsafePlan(TicketbridgeError):
    """The plan writes more than `max_changes` and `--force` was not given (exit 4)."""

    exit_code = EXIT_UNSAFE_PLAN

    def __init__(self, writes: int, max_changes: int) -> None:
        super().__init__(
            f"the plan makes {writes} changes, more than max_changes = {max_changes}; "
            "review it and rerun with --force to apply"
        )
        self.writes = writes
        self.max_changes = max_changes


class StalePlan(TicketbridgeError):
    """A saved plan no longer matches what a fresh plan would do (exit 6)."""

    exit_code = EXIT_STALE_PLAN

    def __init__(
        self, path: Path, saved_plan_id: str, fresh_plan_id: str, reasons: tuple[str, ...]
    ) -> None:
        super().__init__(
            f"{path}: the approved plan {saved_plan_id[:12]} is stale, nothing was written "
            f"(a fresh plan is {fresh_plan_id[:12]}): {'; '.join(reasons)}"
        )
        self.path = path
        self.saved_plan_id = saved_plan_id
        self.fresh_plan_id = fresh_plan_id
        self.reasons = reasons
