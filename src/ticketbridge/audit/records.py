"""The audit record schema: typed, versioned, and owned here, not borrowed from the CLI's JSON.

Issue 7: when the evidence was the plan's `--format json`, changing an output column changed
the evidence. Each record's `data` is built by one of these classes from the domain values,
field by field, and every record carries `schema` (the version below). A reader accepts a
record without `schema` as version 0 (written before this module existed: the same fields).
Changing a field's meaning needs a new version number, never a silent edit.

Version 2 (issue 16) adds, without changing any version-1 field: `approval` ("approved" or
"automatic"), `approved_by` and `plan_id` on `run_started`, `action` and `run_finished`; the
`planned` record (the fresh plan's id and input digests); `plan_stale` (a saved plan refused,
with the reasons); `exception` (an `[[exceptions]]` entry's standing); and `hsts` on
`observed` (each HTTPS endpoint's Strict-Transport-Security answer). A reader
treats a version-0/1 record's missing `approval` as "automatic": there were no approvals then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ticketbridge.core.timefmt import iso_z

if TYPE_CHECKING:  # the CLI imports the audit package for its error type: keep start-up light
    from ticketbridge.core.apply import ActionResult, ApplyReport
    from ticketbridge.core.exceptions import ExceptionStanding
    from ticketbridge.core.inventory import Inventory
    from ticketbridge.core.model import Ticket
    from ticketbridge.core.plan import Action, CertificateSummary

SCHEMA_VERSION = 2

RUN_STARTED = "run_started"
OBSERVED = "observed"
INTENT = "intent"
ACTION = "action"
INTENT_RESOLVED = "intent_resolved"
RUN_FINISHED = "run_finished"
PLANNED = "planned"
PLAN_STALE = "plan_stale"
EXCEPTION = "exception"

APPROVED = "approved"
AUTOMATIC = "automatic"

Operation = Literal["create", "edit", "comment", "transition", "page"]


def _certificate(summary: CertificateSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "names": list(summary.names),
        "effective_not_after": (
            iso_z(summary.effective_not_after) if summary.effective_not_after else None
        ),
        "fingerprints": list(summary.fingerprints),
        "endpoints": list(summary.endpoints),
        # Served certificates on no path from the leaf: evidence that they were seen and why
        # they moved no date (absent when there are none, so older records read the same).
        **({"strays": [stray.as_dict() for stray in summary.strays]} if summary.strays else {}),
    }


@dataclass(frozen=True, slots=True)
class Approval:
    """Who let this run write: a person approving a saved plan, or nobody (a scheduled run).

    `plan_id` is the approved plan's id; for an automatic run it is the run's own plan's id,
    known once the run has planned (None before).
    """

    approved_by: str | None = None
    plan_id: str | None = None

    @property
    def mode(self) -> str:
        return APPROVED if self.approved_by is not None else AUTOMATIC

    def data(self) -> dict[str, Any]:
        return {"approval": self.mode, "approved_by": self.approved_by, "plan_id": self.plan_id}


@dataclass(frozen=True, slots=True)
class RunStarted:
    version: str
    config_path: str
    backend: str
    host: str
    # `[policy]` as configured for this run (a new field, absent from older records, which
    # readers treat as "not recorded").
    policy: Mapping[str, Any] | None = None
    approval: Approval = Approval()

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": self.version,
            "config_path": self.config_path,
            "backend": self.backend,
            "host": self.host,
            **self.approval.data(),
        }
        if self.policy is not None:
            data["policy"] = dict(self.policy)
        return data


@dataclass(frozen=True, slots=True)
class Planned:
    """The plan this run made, by id, and digests of the facts and tickets it came from."""

    approval: Approval
    inputs: Mapping[str, Any]
    writes: int

    def data(self) -> dict[str, Any]:
        return {**self.approval.data(), "inputs": dict(self.inputs), "writes": self.writes}


@dataclass(frozen=True, slots=True)
class PlanStale:
    """A saved plan refused: its id, the fresh plan's id, and what moved (nothing was written)."""

    approval: Approval
    fresh_plan_id: str
    reasons: tuple[str, ...]

    def data(self) -> dict[str, Any]:
        return {
            **self.approval.data(),
            "fresh_plan_id": self.fresh_plan_id,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Observed:
    """What a run saw: tracked certificates, and the endpoints it could not probe."""

    inventory: Inventory

    def data(self) -> dict[str, Any]:
        from ticketbridge.core.plan import CertificateSummary

        return {
            "certificates": [
                _certificate(CertificateSummary.of(cert)) for cert in self.inventory.certificates
            ],
            "unobserved": [
                {
                    "endpoint": observation.endpoint.label,
                    "kind": str(observation.error.kind) if observation.error else None,
                    "message": observation.error.message if observation.error else None,
                }
                for observation in self.inventory.unobserved
            ],
            # Schema 2: the HSTS answer of each HTTPS endpoint probed (SPEC's `hsts` object).
            "hsts": [
                {
                    "endpoint": observation.endpoint.label,
                    "present": hsts.present,
                    "max_age": hsts.max_age,
                    "include_subdomains": hsts.include_subdomains,
                    "preload": hsts.preload,
                    "status": hsts.status,
                    "error": (
                        {"kind": hsts.error.kind, "message": hsts.error.message}
                        if hsts.error
                        else None
                    ),
                }
                for cert in self.inventory.certificates
                for observation in cert.observations
                if (hsts := observation.hsts) is not None
            ],
        }


@dataclass(frozen=True, slots=True)
class Intent:
    """A write about to be made, recorded (and fsync'd) before it is sent: if the outcome is
    never recorded, the next run finds this and asks the ticket system what happened."""

    operation: Operation
    certificate_id: str | None
    ticket: str | None
    detail: Mapping[str, Any]

    def data(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "certificate_id": self.certificate_id,
            "ticket": self.ticket,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    """An `[[exceptions]]` entry this run: `active` (its certificates got no ticket and no
    page), `ended` (handled as usual again) or `unmatched` (it covers nothing seen)."""

    standing: ExceptionStanding

    def data(self) -> dict[str, Any]:
        entry = self.standing.exception
        return {
            "standing": str(self.standing.standing),
            "names": list(entry.names),
            "id": entry.id,
            "reason": entry.reason,
            "approved_by": entry.approved_by,
            "until": entry.until.isoformat(),
            "certificates": [
                {"id": cert_id, "names": list(names)}
                for cert_id, names in zip(
                    self.standing.certificate_ids, self.standing.certificate_names, strict=True
                )
            ],
        }


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """One action of the plan as carried out: what, to which ticket, why, and the evidence."""

    result: ActionResult
    approval: Approval = Approval()

    def data(self) -> dict[str, Any]:
        action: Action = self.result.action
        return {
            **self.approval.data(),
            "kind": str(action.kind),
            "ticket": self.result.ticket or action.ticket,
            "certificate": _certificate(action.certificate),
            "fields": {
                name: {"from": change.before, "to": change.after}
                for name, change in sorted(action.fields.items())
            },
            "reason": action.reason,
            "comment": action.comment or None,
            "ticket_url": action.ticket_url,
            "applied": self.result.applied,
            "error": self.result.error,
            "note": self.result.note,
            "page": (
                {
                    "event": action.page.event,
                    "dedup_key": action.page.dedup_key,
                    "severity": action.page.severity,
                    "summary": action.page.summary,
                }
                if action.page is not None
                else None
            ),
            "unobserved": [
                {"endpoint": e.endpoint, "kind": e.error_kind, "message": e.message}
                for e in action.unobserved
            ],
            # Only when set: the intent before this write stays open (audit/intents.py).
            **({"outcome_unknown": True} if self.result.outcome_unknown else {}),
        }


@dataclass(frozen=True, slots=True)
class IntentResolved:
    """What a later run found in the ticket system for an intent without a recorded outcome."""

    intent_run: str
    intent_seq: int
    intent: Mapping[str, Any]
    found: tuple[Ticket, ...]
    checked: bool  # False when the ticket system cannot say (a page, or no certificate id)

    def data(self) -> dict[str, Any]:
        return {
            "intent_run": self.intent_run,
            "intent_seq": self.intent_seq,
            "intent": dict(self.intent),
            "checked": self.checked,
            "found": [_ticket(ticket) for ticket in self.found],
        }


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "key": ticket.key,
        "status": ticket.status,
        "due_date": ticket.due_date.isoformat() if ticket.due_date else None,
        "priority": ticket.priority,
        "labels": list(ticket.labels),
    }


@dataclass(frozen=True, slots=True)
class RunFinished:
    report: ApplyReport | None
    exit_code: int
    error: str | None = None
    approval: Approval = Approval()

    def data(self) -> dict[str, Any]:
        report = self.report
        data: dict[str, Any] = {
            **self.approval.data(),
            "summary": report.plan.summary if report is not None else None,
            "applied": report.applied if report is not None else 0,
            "failed": len(report.failures) if report is not None else 0,
            "exit_code": self.exit_code,
        }
        if self.error is not None:
            data["error"] = self.error
        return data
