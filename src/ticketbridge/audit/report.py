"""The compliance report: what the verified audit log proves about a date window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ticketbridge.audit.ct import latest_ct_findings
from ticketbridge.audit.intents import intent_changes
from ticketbridge.audit.log import REPAIR_EVENT, Verification, read_numbered_records, verify_log
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import AuditLogError

__all__ = ["Report", "build_report"]

# Exit codes (SPEC) that mean a run did not do its job; 3 (changes pending) is a dry run's answer.
_RUN_FAILURES = {1: "run error", 4: "unsafe plan refused", 5: "another run held the lock"}
# Kinds after which a certificate's ticket is no longer open (as far as the log knows).
_CLOSING = {"resolve"}
# Kinds whose `ticket` is not the certificate's renewal ticket, or that write nothing.
_NOT_THE_TICKET = {"duplicate", "ambiguous", "unobserved", "unplaceable"}


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a report shows, already windowed; renderers only format it."""

    generated_at: datetime
    since: date | None
    until: date | None
    log: Verification
    runs: tuple[dict[str, Any], ...]
    changes: tuple[dict[str, Any], ...]
    failures: tuple[dict[str, Any], ...]
    certificates: tuple[dict[str, Any], ...]
    ct_findings: tuple[dict[str, Any], ...] = ()  # issued versus served, from the last run

    def as_dict(self) -> dict[str, Any]:
        document = self._document()
        if self.ct_findings:  # only where `[[sources.ct]]` recorded findings
            document["ct_findings"] = list(self.ct_findings)
        return document

    def _document(self) -> dict[str, Any]:
        return {
            "generated_at": iso_z(self.generated_at),
            "window": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "log": self.log.as_dict(),
            "runs": list(self.runs),
            "changes": list(self.changes),
            "failures": list(self.failures),
            "certificates": list(self.certificates),
        }


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Window:
    """Inclusive UTC dates; an open end is unbounded."""

    def __init__(self, since: date | None, until: date | None) -> None:
        self.since, self.until = since, until

    def contains(self, time: Any) -> bool:
        moment = _moment(time)
        if moment is None:
            return False
        day = moment.astimezone(UTC).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    def not_after_end(self, time: Any) -> bool:
        moment = _moment(time)
        return moment is not None and (
            self.until is None or moment.astimezone(UTC).date() <= self.until
        )


def build_report(path: Path, since: date | None, until: date | None, now: datetime) -> Report:
    """Verify the log, then gather runs, changes, failures and certificates seen in the window.

    A log that does not verify still yields a report: it says so first, and shows what the log
    holds, so an auditor sees both the break and what surrounds it.
    """
    path = Path(path)
    verification = verify_log(path)
    try:
        numbered = list(read_numbered_records(path)) if path.exists() else []
    except (OSError, AuditLogError):
        numbered = []  # verify_log has already named the problem
    # Every row from the break on is marked unverified: what follows an edit proves nothing.
    trusted_before = None if verification.ok else (verification.line if verification.line else 0)
    records = [
        {**record, "verified": trusted_before is None or number < trusted_before}
        for number, record in numbered
    ]
    window = _Window(since, until)
    runs = _runs(records, window)
    changes = [
        _change(record)
        for record in records
        if record["event"] == "action"
        and window.contains(record["time"])
        and (record["data"].get("applied") or record["data"].get("error"))
    ]
    changes.extend(intent_changes(records, window.contains))
    changes.sort(key=lambda change: (str(change["time"]), change["run"]))
    return Report(
        generated_at=now,
        since=since,
        until=until,
        log=verification,
        runs=tuple(runs.values()),
        changes=tuple(changes),
        failures=_failures(records, runs, window),
        certificates=_certificates(records, window),
        ct_findings=latest_ct_findings(records, window.contains),
    )


def _runs(records: Iterable[dict[str, Any]], window: _Window) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["event"] == REPAIR_EVENT:
            continue
        run = runs.setdefault(
            record["run"],
            {
                "run": record["run"],
                "started": None,
                "finished": None,
                "host": None,
                "backend": None,
                "config_path": None,
                "version": None,
                "summary": None,
                "applied": None,
                "failed": None,
                "exit_code": None,
                "error": None,
                "verified": True,
                "first_seen": record["time"],
            },
        )
        # A run is verified only if every one of its records is.
        run["verified"] = run["verified"] and record["verified"]
        data = record["data"]
        if record["event"] == "run_started":
            run["started"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("host", "backend", "config_path", "version")}
            )
        elif record["event"] == "run_finished":
            run["finished"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("summary", "applied", "failed", "exit_code")}
            )
            run["error"] = data.get("error")
    # A run belongs to the window it started in; one whose start was lost counts from its
    # first surviving record.
    return {
        key: {name: value for name, value in run.items() if name != "first_seen"}
        for key, run in runs.items()
        if window.contains(run["started"] or run["first_seen"])
    }


def _certificate_ref(data: Mapping[str, Any]) -> dict[str, Any]:
    certificate = data.get("certificate") or {}
    return {"id": certificate.get("id"), "names": list(certificate.get("names") or [])}


def _change(record: dict[str, Any]) -> dict[str, Any]:
    data = record["data"]
    return {
        "time": record["time"],
        "run": record["run"],
        "kind": data.get("kind"),
        "ticket": data.get("ticket"),
        "certificate": _certificate_ref(data),
        "fields": data.get("fields") or {},
        "reason": data.get("reason"),
        "applied": bool(data.get("applied")),
        "error": data.get("error"),
        "note": data.get("note"),
        "verified": record["verified"],
    }


def _failures(
    records: Iterable[dict[str, Any]], runs: Mapping[str, dict[str, Any]], window: _Window
) -> tuple[dict[str, Any], ...]:
    failures = [
        {
            "time": record["time"],
            "run": record["run"],
            "kind": record["data"].get("kind"),
            "ticket": record["data"].get("ticket"),
            "certificate": _certificate_ref(record["data"]),
            "error": record["data"]["error"],
            "verified": record["verified"],
        }
        for record in records
        if record["event"] == "action"
        and record["data"].get("error")
        and window.contains(record["time"])
    ]
    for run in runs.values():
        exit_code = run["exit_code"]
        if run["finished"] is None:
            error = "no run_finished record: the run was interrupted, or is still running"
        elif exit_code in _RUN_FAILURES:
            error = run["error"] or _RUN_FAILURES[exit_code]
        else:
            continue
        failures.append(
            {
                "time": run["finished"] or run["started"],
                "run": run["run"],
                "kind": "run",
                "ticket": None,
                "certificate": None,
                "error": error,
                "verified": run["verified"],
            }
        )
    failures.sort(key=lambda failure: str(failure["time"]))
    return tuple(failures)


def _certificates(records: Iterable[dict[str, Any]], window: _Window) -> tuple[dict[str, Any], ...]:
    """Each certificate as last observed in the window, with its renewal ticket as the log
    last recorded it (the log sees tickets only when ticketbridge writes to them)."""
    latest: dict[str, dict[str, Any]] = {}
    tickets: dict[str, str | None] = {}
    for record in records:
        data = record["data"]
        if record["event"] == "observed" and window.contains(record["time"]):
            for certificate in data.get("certificates") or []:
                if isinstance(certificate, dict) and certificate.get("id"):
                    latest[certificate["id"]] = {
                        "id": certificate["id"],
                        "names": list(certificate.get("names") or []),
                        "effective_not_after": certificate.get("effective_not_after"),
                        "fingerprints": list(certificate.get("fingerprints") or []),
                        "endpoints": list(certificate.get("endpoints") or []),
                        "observed_at": record["time"],
                        "verified": record["verified"],
                    }
        elif record["event"] == "action" and window.not_after_end(record["time"]):
            certificate_id = _certificate_ref(data)["id"]
            kind, ticket = data.get("kind"), data.get("ticket")
            if not certificate_id or not ticket or kind in _NOT_THE_TICKET:
                continue
            if kind in _CLOSING and data.get("applied"):
                tickets[certificate_id] = None
            elif data.get("applied") or kind not in {"create", "reopen"}:
                tickets[certificate_id] = ticket
    entries = [{**entry, "ticket": tickets.get(key)} for key, entry in latest.items()]
    entries.sort(key=lambda entry: (str(entry["effective_not_after"]), entry["id"]))
    return tuple(entries)
