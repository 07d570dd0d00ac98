"""The report's derived facts: status per certificate, endpoints never observed, HSTS, the
policy in force, approvals, and when the control operated (runs per day, gaps)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = [
    "STATUSES",
    "CertificateTrack",
    "EndpointTrack",
    "ExceptionTrack",
    "approvals",
    "operation",
    "policy_in_force",
]

# A certificate's status over the window, the strongest first: what the control did about it.
STATUSES = (
    "paged",
    "escalated",
    "created",
    "corrected",
    "exception",
    "unobserved",
    "compliant",
)
_STATUS_OF_KIND = {
    "page": "paged",
    "escalate": "escalated",
    "create": "created",
    "update": "corrected",
    "reopen": "corrected",
    "resolve": "corrected",
    "exception": "exception",
}
# Kinds whose `ticket` is not the certificate's renewal ticket, or that write nothing.
_NOT_THE_TICKET = {"duplicate", "ambiguous", "unobserved", "unplaceable", "exception"}
_REPORTED_ONLY = {"exception", "unobserved"}
_POLICY_KEYS = (
    "lead_days",
    "ticket_horizon_days",
    "escalate_within_days",
    "page_within_days",
    "timezone",
    "keep_earlier_due_date",
    "resolve_on_renewal",
    "max_changes",
)


class CertificateTrack:
    """Each certificate as last observed in the window, its renewal ticket as the log last
    recorded it (the log sees tickets only when ticketbridge writes to them), its due dates
    and what the control did about it."""

    def __init__(
        self, in_window: Callable[[Any], bool], not_after_end: Callable[[Any], bool]
    ) -> None:
        self.in_window, self.not_after_end = in_window, not_after_end
        self.latest: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, str | None] = {}
        self.kinds: dict[str, set[str]] = {}
        self.due: dict[str, dict[str, Any]] = {}
        self.last_observed_at = ""

    def observed(self, record: Mapping[str, Any], verified: bool) -> None:
        if not self.in_window(record["time"]):
            return
        self.last_observed_at = max(self.last_observed_at, str(record["time"]))
        for certificate in record["data"].get("certificates") or []:
            if isinstance(certificate, dict) and certificate.get("id"):
                self.latest[certificate["id"]] = {
                    "id": certificate["id"],
                    "names": list(certificate.get("names") or []),
                    "effective_not_after": certificate.get("effective_not_after"),
                    "fingerprints": list(certificate.get("fingerprints") or []),
                    "endpoints": list(certificate.get("endpoints") or []),
                    "observed_at": record["time"],
                    "verified": verified,
                }

    def action(self, record: Mapping[str, Any]) -> None:
        if not self.not_after_end(record["time"]):
            return
        data = record["data"]
        certificate = data.get("certificate") or {}
        certificate_id = certificate.get("id") if isinstance(certificate, dict) else None
        kind, ticket, applied = data.get("kind"), data.get("ticket"), bool(data.get("applied"))
        if not certificate_id:
            return
        if self.in_window(record["time"]) and (applied or kind in _REPORTED_ONLY):
            self.kinds.setdefault(certificate_id, set()).add(str(kind))
            self._due_date(certificate_id, data.get("fields"))
        if not ticket or kind in _NOT_THE_TICKET:
            return
        if kind == "resolve" and applied:
            self.tickets[certificate_id] = None
        elif applied or kind not in {"create", "reopen"}:
            self.tickets[certificate_id] = ticket

    def excepted(self, record: Mapping[str, Any]) -> None:
        """An `exception` record (schema 2): while `active`, its certificates are exceptions."""
        data = record["data"]
        if data.get("standing") != "active":
            return
        for certificate in data.get("certificates") or []:
            ident = certificate.get("id") if isinstance(certificate, Mapping) else certificate
            if isinstance(ident, str) and ident:
                self.kinds.setdefault(ident, set()).add("exception")

    def _due_date(self, certificate_id: str, fields: Any) -> None:
        change = fields.get("duedate") if isinstance(fields, Mapping) else None
        if not isinstance(change, Mapping):
            return
        due = self.due.setdefault(certificate_id, {"was": change.get("from"), "now": None})
        due["now"] = change.get("to")

    def status(self, certificate_id: str, observed_at: str) -> str:
        kinds = {_STATUS_OF_KIND.get(kind) for kind in self.kinds.get(certificate_id, ())}
        for status in STATUSES[:5]:
            if status in kinds:
                return status
        if (
            "unobserved" in self.kinds.get(certificate_id, ())
            or observed_at < self.last_observed_at
        ):
            return "unobserved"
        return "compliant"

    def entries(self) -> tuple[dict[str, Any], ...]:
        entries = []
        for key, entry in self.latest.items():
            due = self.due.get(key, {})
            entries.append(
                {
                    **entry,
                    "ticket": self.tickets.get(key),
                    "status": self.status(key, str(entry["observed_at"])),
                    "actions": sorted(self.kinds.get(key, ())),
                    "due_date": due.get("now"),
                    "due_date_before": due.get("was"),
                }
            )
        entries.sort(key=lambda entry: (str(entry["effective_not_after"]), entry["id"]))
        return tuple(entries)


class ExceptionTrack:
    """Each `[[exceptions]]` entry's standing over the window (schema 2's `exception` records):
    who approved the risk, why, until when, what it covered, and when it ended."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}

    def standing(self, record: Mapping[str, Any]) -> None:
        data = record["data"]
        key = str(data.get("id") or data.get("names"))
        entry = self.latest.get(key, {"first_seen": record["time"], "ended": None})
        if data.get("standing") == "ended" and entry.get("standing") != "ended":
            entry["ended"] = record["time"]
        certificates = [
            c.get("id") if isinstance(c, Mapping) else c for c in data.get("certificates") or []
        ]
        entry.update(
            standing=data.get("standing"),
            names=list(data.get("names") or []),
            id=data.get("id"),
            reason=data.get("reason"),
            approved_by=data.get("approved_by"),
            until=data.get("until"),
            certificates=certificates,
            last_seen=record["time"],
        )
        self.latest[key] = entry

    def entries(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.latest[key] for key in sorted(self.latest))


class EndpointTrack:
    """Every endpoint the window's runs probed: whether any served a certificate, the last
    probe error of those that never did, and the last HSTS observation of each."""

    def __init__(self) -> None:
        self.served: set[str] = set()
        self.failed: dict[str, dict[str, Any]] = {}
        self.strict_transport: dict[str, Mapping[str, Any]] = {}

    def observed(self, record: Mapping[str, Any]) -> None:
        data = record["data"]
        for certificate in data.get("certificates") or []:
            if isinstance(certificate, dict):
                self.served.update(str(e) for e in certificate.get("endpoints") or [])
        for failure in data.get("unobserved") or []:
            if isinstance(failure, dict) and failure.get("endpoint"):
                entry = self.failed.setdefault(
                    str(failure["endpoint"]), {"endpoint": str(failure["endpoint"]), "probes": 0}
                )
                entry["probes"] += 1
                entry.update(
                    kind=failure.get("kind"), message=failure.get("message"), last=record["time"]
                )
        for endpoint, hsts in _hsts_of(data.get("hsts")):
            self.strict_transport[endpoint] = hsts

    def never_observed(self) -> tuple[dict[str, Any], ...]:
        return tuple(
            self.failed[label] for label in sorted(self.failed) if label not in self.served
        )

    def hsts(self) -> tuple[dict[str, Any], ...]:
        labels = sorted(self.served | set(self.failed) | set(self.strict_transport))
        return tuple(
            {"endpoint": label, "hsts": dict(self.strict_transport[label])}
            if label in self.strict_transport
            else {"endpoint": label, "hsts": None}
            for label in labels
        )


def _hsts_of(value: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """HSTS as an `observed` record carries it (schema 2): a list of the SPEC's `hsts` object
    per HTTPS endpoint probed, each with its `endpoint` label beside the fields."""
    if not isinstance(value, list):
        return []
    return [
        (str(item["endpoint"]), {key: val for key, val in item.items() if key != "endpoint"})
        for item in value
        if isinstance(item, Mapping) and item.get("endpoint")
    ]


def policy_in_force(
    recorded: Mapping[str, Any] | None, configured: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The policy the window's last run recorded, else the configuration's at report time."""
    if recorded:
        source, policy = "recorded by the last run in the window", recorded
    elif configured:
        source, policy = "the configuration when this report was made", configured
    else:
        return {"source": "unknown"}
    return {"source": source, **{key: policy.get(key) for key in _POLICY_KEYS if key in policy}}


def approvals(runs: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Who approved which saved plan, run by run, and whether it was applied or refused as
    stale (and why); runs nobody approved were automatic, even with a plan id of their own."""
    return tuple(
        {
            "run": run["run"],
            "time": run["started"],
            "plan_id": run.get("plan_id"),
            "approved_by": run.get("approved_by"),
            "outcome": _approval_outcome(run),
        }
        for run in runs
        if run.get("approved_by")
    )


def _approval_outcome(run: Mapping[str, Any]) -> str:
    refused = run.get("refused")
    if isinstance(refused, Mapping):
        reasons = "; ".join(str(reason) for reason in refused.get("reasons") or [])
        return f"refused, nothing written: the plan went stale ({reasons or 'no reason recorded'})"
    if run.get("finished") is None:
        return "the run did not finish"
    return (
        "applied"
        if run.get("exit_code") == 0
        else f"run ended with exit code {run.get('exit_code')}"
    )


def _parsed(text: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def operation(
    runs: Iterable[Mapping[str, Any]],
    since: date | None,
    end: datetime,
    schedule_hours: float | None,
    log_began: str | None = None,
) -> dict[str, Any]:
    """Runs per UTC day over the window, and every stretch without a run longer than the
    schedule (from the window's start to the first run, and from the last run to its end).
    A log that began inside the window is counted from its first record: before it, there was
    no control to operate, and the report says when it began instead."""
    starts = sorted(t for t in (_parsed(run.get("started")) for run in runs) if t is not None)
    first_day = since or (starts[0].date() if starts else end.date())
    begin = datetime.combine(first_day, datetime.min.time(), UTC)
    began = _parsed(log_began) if log_began else None
    if began is not None and began > begin:
        begin, first_day = began, began.date()
    # The window ends at the midnight after its last day: that midnight is not a day of it.
    last_day = max(first_day, (end - timedelta(microseconds=1)).date())
    per_day: dict[date, int] = {}
    for start in starts:
        per_day[start.date()] = per_day.get(start.date(), 0) + 1
    days = [
        {"date": day.isoformat(), "runs": per_day.get(day, 0)}
        for day in (first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))
    ]
    gaps = []
    if schedule_hours:
        limit = timedelta(hours=schedule_hours)
        for before, after in zip([begin, *starts], [*starts, end], strict=True):
            if after - before > limit:
                gaps.append(
                    {
                        "from": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "to": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "hours": round((after - before).total_seconds() / 3600, 1),
                    }
                )
    return {
        "schedule_hours": schedule_hours,
        "log_began": log_began,
        "runs": len(starts),
        "days_without_runs": sum(1 for day in days if not day["runs"]),
        "days": days,
        "gaps": gaps,
    }
