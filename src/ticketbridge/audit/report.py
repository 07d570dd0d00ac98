"""The compliance report: what the verified audit log proves about a date window, read as a stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.audit.chain import REPAIR_EVENT, Entry, LogWalk, RecentRuns, Verification
from ticketbridge.audit.ct import CT_FINDINGS, latest_ct_findings
from ticketbridge.audit.intents import intent_changes
from ticketbridge.audit.reportfacts import (
    STATUSES,
    CertificateTrack,
    EndpointTrack,
    ExceptionTrack,
    approvals,
    operation,
    policy_in_force,
)
from ticketbridge.core.timefmt import iso_z

__all__ = ["DEFAULT_WINDOW_DAYS", "Report", "build_report", "default_since"]

# With no --since, the report covers this many days up to --until (or today): a quarter, the
# period auditors sample a control over.
DEFAULT_WINDOW_DAYS = 90
# Exit codes (SPEC) that mean a run did not do its job; 3 (changes pending) is a dry run's answer.
_RUN_FAILURES = {1: "run error", 4: "unsafe plan refused", 5: "another run held the lock"}
_INTENT_EVENTS = {"intent", "intent_resolved"}
# The records that state who let the run write (schema 2).
_APPROVAL_EVENTS = {"run_started", "planned", "plan_stale", "action", "run_finished"}


def default_since(until: date | None, today: date) -> date:
    """The first day of the default window: the last DEFAULT_WINDOW_DAYS days, inclusive."""
    return (until or today) - timedelta(days=DEFAULT_WINDOW_DAYS - 1)


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
    policy: Mapping[str, Any] = field(default_factory=dict)
    operation: Mapping[str, Any] = field(default_factory=dict)
    approvals: tuple[dict[str, Any], ...] = ()
    exceptions: tuple[dict[str, Any], ...] = ()
    never_observed: tuple[dict[str, Any], ...] = ()
    hsts: tuple[dict[str, Any], ...] = ()
    ct_findings: tuple[dict[str, Any], ...] = ()  # issued versus served, from the last run

    def statuses(self) -> dict[str, int]:
        """How many certificates ended the window in each status, every status named."""
        counts = _count(str(c.get("status")) for c in self.certificates)
        return {status: counts.get(status, 0) for status in STATUSES}

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
            "policy": dict(self.policy),
            "approvals": list(self.approvals),
            "exceptions": list(self.exceptions),
            "operation": dict(self.operation),
            "runs": list(self.runs),
            "changes": list(self.changes),
            "failures": list(self.failures),
            "certificates": list(self.certificates),
            "statuses": self.statuses(),
            "never_observed": list(self.never_observed),
            "hsts": list(self.hsts),
        }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Window:
    """Inclusive UTC dates; an open end is unbounded."""

    def __init__(self, since: date | None, until: date | None) -> None:
        self.since, self.until = since, until

    def contains(self, time: Any) -> bool:
        parsed = moment(time)
        if parsed is None:
            return False
        day = parsed.astimezone(UTC).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    def not_after_end(self, time: Any) -> bool:
        parsed = moment(time)
        return parsed is not None and (
            self.until is None or parsed.astimezone(UTC).date() <= self.until
        )


def _new_run(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
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
        "plan_id": None,
        "approved_by": None,
        "verified": True,
    }


class _Collector:
    """Takes the log one record at a time and keeps only what the window needs: runs started
    in it, its changes and failures, one entry per certificate and endpoint."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.runs: dict[str, dict[str, Any]] = {}
        self.seen_runs = RecentRuns()
        self.changes: list[dict[str, Any]] = []
        self.action_failures: list[dict[str, Any]] = []
        self.certificates = CertificateTrack(window.contains, window.not_after_end)
        self.endpoints = EndpointTrack()
        self.exceptions = ExceptionTrack()
        # The policy the window's latest run recorded (runs are in time order).
        self.policy: Mapping[str, Any] | None = None
        self.log_began: str | None = None
        # What `intent_changes` needs, slimmed: intents and their answers around the window.
        self.intent_stream: list[dict[str, Any]] = []
        # Issued versus served (`[[sources.ct]]`): a state, so only the window's last one counts.
        self.ct_record: dict[str, Any] | None = None

    def add(self, entry: Entry) -> None:
        record, verified = entry.record, entry.verified
        self.log_began = self.log_began or str(record["time"])
        event, in_window = record["event"], self.window.contains(record["time"])
        if event != REPAIR_EVENT:
            self._run(record, verified, in_window)
        if event == "observed":
            self.certificates.observed(record, verified)
            if in_window:
                self.endpoints.observed(record)
        elif event == CT_FINDINGS and in_window:
            self.ct_record = dict(record)
        elif event == "action":
            self.certificates.action(record)
            if in_window:
                self._action(record, verified)
        if event in _INTENT_EVENTS or (event == "action" and record["run"] in self.runs):
            self._keep_for_intents(record, verified)
        if event == "exception" and in_window:
            self.exceptions.standing(record)
            self.certificates.excepted(record)

    def _run(self, record: Mapping[str, Any], verified: bool, in_window: bool) -> None:
        key = record["run"]
        # A run belongs to the window it started in (or, its start lost, its first record).
        if self.seen_runs.add(key) and in_window:
            self.runs[key] = _new_run(record)
        run = self.runs.get(key)
        if run is None:
            return
        run["verified"] = run["verified"] and verified
        data = record["data"]
        _approval(run, record)
        if record["event"] == "run_started":
            run["started"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("host", "backend", "config_path", "version")}
            )
            if isinstance(data.get("policy"), Mapping):
                self.policy = data["policy"]
        elif record["event"] == "run_finished":
            run["finished"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("summary", "applied", "failed", "exit_code")}
            )
            run["error"] = data.get("error")
        run.setdefault("first_seen", record["time"])

    def _action(self, record: Mapping[str, Any], verified: bool) -> None:
        data = record["data"]
        if data.get("applied") or data.get("error"):
            self.changes.append(_change(record, verified))
        if data.get("error"):
            self.action_failures.append(
                {
                    "time": record["time"],
                    "run": record["run"],
                    "kind": data.get("kind"),
                    "ticket": data.get("ticket"),
                    "certificate": certificate_ref(data),
                    "error": data["error"],
                    "verified": verified,
                }
            )

    def _keep_for_intents(self, record: Mapping[str, Any], verified: bool) -> None:
        data = record["data"]
        if record["event"] == "action":
            # `pending_intents` matches an outcome by certificate id or ticket only.
            data = {
                "certificate": {"id": certificate_ref(data)["id"]},
                "ticket": data.get("ticket"),
            }
        elif not self._intent_matters(record):
            return
        self.intent_stream.append(
            {
                "seq": record["seq"],
                "time": record["time"],
                "run": record["run"],
                "event": record["event"],
                "data": data,
                "verified": verified,
            }
        )

    def _intent_matters(self, record: Mapping[str, Any]) -> bool:
        """Intents made in the window, and answers made in it or about its runs."""
        if self.window.contains(record["time"]):
            return True
        return (
            record["event"] == "intent_resolved" and record["data"].get("intent_run") in self.runs
        )

    def finished_runs(self) -> list[dict[str, Any]]:
        return [
            {name: value for name, value in run.items() if name != "first_seen"}
            for run in self.runs.values()
        ]


def certificate_ref(data: Mapping[str, Any]) -> dict[str, Any]:
    certificate = data.get("certificate") or {}
    return {"id": certificate.get("id"), "names": list(certificate.get("names") or [])}


def _change(record: Mapping[str, Any], verified: bool) -> dict[str, Any]:
    data = record["data"]
    return {
        "time": record["time"],
        "run": record["run"],
        "kind": data.get("kind"),
        "ticket": data.get("ticket"),
        "certificate": certificate_ref(data),
        "fields": data.get("fields") or {},
        "reason": data.get("reason"),
        "applied": bool(data.get("applied")),
        "error": data.get("error"),
        "note": data.get("note"),
        "verified": verified,
        "action_plan_id": _text(data.get("plan_id")),
        "action_approved_by": _text(data.get("approved_by")),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _approval(run: dict[str, Any], record: Mapping[str, Any]) -> None:
    """The run's approval as its records state it (schema 2: `approved_by` and `plan_id` on
    run_started, action and run_finished); a refused saved plan (`plan_stale`) and why."""
    data = record["data"]
    if record["event"] not in _APPROVAL_EVENTS:
        return  # an `exception` record's approver approved the risk, not this run
    for name in ("plan_id", "approved_by"):
        if _text(data.get(name)):
            run[name] = data[name]
    if record["event"] == "plan_stale":
        reasons = data.get("reasons") if isinstance(data.get("reasons"), list) else []
        run["refused"] = {"fresh_plan_id": data.get("fresh_plan_id"), "reasons": reasons}


def build_report(
    path: Path,
    since: date | None,
    until: date | None,
    now: datetime,
    *,
    policy: Mapping[str, Any] | None = None,
    schedule_hours: float | None = None,
) -> Report:
    """Walk the log once, verifying it and keeping what falls in the window.

    Memory grows with the window (its runs, changes and certificates), never with the log. A
    log that does not verify still yields a report: it says so first, and shows what the log
    holds, so an auditor sees both the break and what surrounds it. `policy` is the
    configuration's, shown when no run in the window recorded the policy it ran with.
    """
    window = Window(since, until)
    collector = _Collector(window)
    walk = LogWalk(Path(path))
    for entry in walk:
        collector.add(entry)
    assert walk.verification is not None
    runs = collector.finished_runs()
    plans = {run["run"]: run for run in runs}
    changes = collector.changes + intent_changes(collector.intent_stream, window.contains)
    for change in changes:
        run = plans.get(change["run"], {})
        # An action records its own approval (schema 2); older ones take their run's.
        change["plan_id"] = change.pop("action_plan_id", None) or run.get("plan_id")
        change["approved_by"] = (
            change.pop("action_approved_by", None) or run.get("approved_by") or "automatic"
        )
    changes.sort(key=lambda change: (str(change["time"]), change["run"]))
    end = _window_end(until, now)
    return Report(
        generated_at=now,
        since=since,
        until=until,
        log=walk.verification,
        runs=tuple(runs),
        changes=tuple(changes),
        failures=_failures(collector.action_failures, runs),
        certificates=collector.certificates.entries(),
        policy=policy_in_force(collector.policy, policy),
        operation=operation(runs, since, end, schedule_hours, collector.log_began),
        approvals=approvals(runs),
        exceptions=collector.exceptions.entries(),
        never_observed=collector.endpoints.never_observed(),
        hsts=collector.endpoints.hsts(),
        ct_findings=latest_ct_findings(
            [collector.ct_record] if collector.ct_record else [], window.contains
        ),
    )


def _window_end(until: date | None, now: datetime) -> datetime:
    if until is None:
        return now
    return min(now, datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC))


def _failures(
    action_failures: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> tuple[dict[str, Any], ...]:
    failures = list(action_failures)
    for run in runs:
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
