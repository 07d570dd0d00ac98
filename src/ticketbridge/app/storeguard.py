"""The embedded store's file, checked before it is opened: never silently started over while
the audit trail says it held tickets, and a warning when its mode is looser than 0600."""

from __future__ import annotations

from pathlib import Path

from ticketbridge.audit import read_records
from ticketbridge.audit.evidence import warn_if_loose
from ticketbridge.errors import ConfigError


def guard_local_store(store: Path, audit_log: Path) -> None:
    """Refuse an empty store file when the audit trail says this store held tickets.

    SQLite takes a 0-byte file for a new database and would silently start over: every
    certificate would get a second ticket, and the trail would no longer match the store.
    """
    try:
        status = store.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{store}: tickets.local_path: {exc.strerror or exc}") from None
    warn_if_loose(store)
    if status.st_size > 0 or not audit_log.exists():
        return
    named = _tickets_named(audit_log)
    if named:
        raise ConfigError(
            f"{store}: tickets.local_path: the store is empty, but the audit trail "
            f"{audit_log} records writes to {len(named)} of its tickets (e.g. {sorted(named)[0]}); "
            "restore the store from a backup rather than start it over"
        )


def _tickets_named(audit_log: Path) -> set[str]:
    """Tickets that local-store runs in the audit trail wrote to."""
    local_runs: set[str] = set()
    named: set[str] = set()
    for record in read_records(audit_log):
        data = record["data"]
        if record["event"] == "run_started" and data.get("backend") == "local":
            local_runs.add(record["run"])
        elif (
            record["event"] == "action"
            and record["run"] in local_runs
            and data.get("applied")
            and isinstance(data.get("ticket"), str)
        ):
            named.add(data["ticket"])
    return named
