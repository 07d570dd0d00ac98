"""The plan as a value: actions with reasons and evidence, deterministic order, a safety gate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from ticketbridge.core.exceptions import ExceptionStanding
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import UnsafePlan

# Labels ticketbridge writes besides the marker. They deliberately do not start with `tb-`,
# which `Ticket.marker_ids` reads as a certificate id.
DUPLICATE_LABEL = "ticketbridge-duplicate"
PAGED_LABEL = "ticketbridge-paged"

JsonValue = str | int | bool | None | list[str]


class ActionKind(StrEnum):
    """What the reconciler decided for one ticket or certificate (SPEC's decision table)."""

    CREATE = "create"
    UPDATE = "update"
    ESCALATE = "escalate"
    PAGE = "page"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    DUPLICATE = "duplicate"
    AMBIGUOUS = "ambiguous"
    UNOBSERVED = "unobserved"
    # A fact the planner cannot place (a notAfter outside the calendar of policy.timezone).
    UNPLACEABLE = "unplaceable"


KIND_ORDER: Mapping[ActionKind, int] = {kind: index for index, kind in enumerate(ActionKind)}
REPORT_ONLY_KINDS = frozenset({ActionKind.AMBIGUOUS, ActionKind.UNOBSERVED, ActionKind.UNPLACEABLE})


_KEY_PARTS = re.compile(r"(\d+)")


@lru_cache(maxsize=65_536)
def natural_key(ticket_key: str) -> tuple[tuple[int, int | str], ...]:
    """Sort `OPS-9` before `OPS-10`."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _KEY_PARTS.split(ticket_key)
    )


@dataclass(frozen=True, slots=True)
class ServedEndpoint:
    """One endpoint serving a tracked certificate, with what exactly it served."""

    endpoint: str
    fingerprint_sha256: str | None
    effective_not_after: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "fingerprint_sha256": self.fingerprint_sha256,
            "effective_not_after": (
                iso_z(self.effective_not_after) if self.effective_not_after else None
            ),
        }


@dataclass(frozen=True, slots=True)
class StraySummary:
    """A served certificate on no path from the leaf: reported beside the tracked one."""

    subject: str
    fingerprint_sha256: str
    not_after: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "fingerprint_sha256": self.fingerprint_sha256,
            "not_after": iso_z(self.not_after),
        }


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    """A tracked certificate as a plan reports it: SPEC's `certificates[]` shape plus `served`."""

    id: str
    names: tuple[str, ...] = ()
    effective_not_after: datetime | None = None
    fingerprints: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    served: tuple[ServedEndpoint, ...] = ()
    strays: tuple[StraySummary, ...] = ()

    @classmethod
    def of(cls, cert: TrackedCert) -> CertificateSummary:
        served = tuple(
            ServedEndpoint(
                endpoint=observation.endpoint.label,
                fingerprint_sha256=(
                    observation.certificate.fingerprint_sha256 if observation.certificate else None
                ),
                effective_not_after=observation.effective_not_after,
            )
            for observation in sorted(cert.observations, key=lambda o: o.endpoint)
        )
        if not served:
            served = tuple(ServedEndpoint(label, None, None) for label in cert.endpoint_labels)
        return cls(
            id=cert.id,
            names=cert.names,
            effective_not_after=cert.effective_not_after,
            fingerprints=cert.fingerprints,
            endpoints=cert.endpoint_labels,
            served=served,
            strays=tuple(
                StraySummary(stray.subject, stray.fingerprint_sha256, stray.not_after)
                for stray in cert.strays
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "names": list(self.names),
            "effective_not_after": (
                iso_z(self.effective_not_after) if self.effective_not_after else None
            ),
            "fingerprints": list(self.fingerprints),
            "endpoints": list(self.endpoints),
            "served": [served.as_dict() for served in self.served],
            "strays": [stray.as_dict() for stray in self.strays],
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One field's value before and after: dates as ISO strings, labels as lists."""

    before: JsonValue
    after: JsonValue

    def as_dict(self) -> dict[str, JsonValue]:
        return {"from": self.before, "to": self.after}


@dataclass(frozen=True, slots=True)
class UnobservedEndpoint:
    """An endpoint that could not be probed this run, and why."""

    endpoint: str
    error_kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "error": self.error_kind, "message": self.message}


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One event for the on-call sinks (SPEC's webhook document), deduplicated per certificate."""

    event: Literal["trigger", "resolve"]
    dedup_key: str
    summary: str
    certificate: CertificateSummary
    severity: str = "critical"
    ticket: str | None = None
    ticket_url: str | None = None

    def for_ticket(self, key: str, url: str | None) -> PageEvent:
        """The event once the renewal ticket's key is known (a create learns it at apply time)."""
        summary = self.summary if self.ticket else f"{self.summary}; renewal ticket {key}"
        return replace(self, ticket=key, ticket_url=url, summary=summary)

    def as_dict(self) -> dict[str, Any]:
        certificate = self.certificate.as_dict()
        # The page carries SPEC's certificate shape: no per-endpoint detail, no strays.
        certificate.pop("served")
        certificate.pop("strays")
        return {
            "event": self.event,
            "dedup_key": self.dedup_key,
            "severity": self.severity,
            "summary": self.summary,
            "certificate": certificate,
            "ticket": self.ticket,
            "ticket_url": self.ticket_url,
        }


@dataclass(frozen=True, slots=True)
class Action:
    """One decision: what to do to which ticket about which certificate, why, and the evidence.

    `comment` is the whole evidence comment for the ticket this action writes to; actions on the
    same ticket share it, so the executor writes one comment per ticket.
    """

    kind: ActionKind
    ticket: str | None
    certificate: CertificateSummary
    reason: str
    fields: Mapping[str, Change] = field(default_factory=dict)
    comment: str = ""
    new_ticket: NewTicket | None = None
    edit: TicketEdit | None = None
    page: PageEvent | None = None
    related: tuple[CertificateSummary, ...] = ()
    unobserved: tuple[UnobservedEndpoint, ...] = ()
    ticket_url: str | None = None
    # A reopen or resolve whose ticket carries PAGED_LABEL: page state the executor must honour.
    paged: bool = False

    @property
    def writes(self) -> bool:
        return self.kind not in REPORT_ONLY_KINDS

    @property
    def group(self) -> str:
        """The ticket this action writes to; a ticket still to be created is named by its cert."""
        return self.ticket if self.ticket is not None else f"new:{self.certificate.id}"

    def sort_key(self) -> tuple[Any, ...]:
        return (
            KIND_ORDER[self.kind],
            self.certificate.id,
            natural_key(self.ticket) if self.ticket else (),
            self.reason,
        )

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "kind": str(self.kind),
            "ticket": self.ticket,
            "certificate": self.certificate.as_dict(),
            "fields": {name: change.as_dict() for name, change in sorted(self.fields.items())},
            "reason": self.reason,
            "comment": self.comment or None,
            "ticket_url": self.ticket_url,
        }
        if self.page is not None:
            document["page"] = self.page.as_dict()
        if self.related:
            document["related"] = [summary.as_dict() for summary in self.related]
        if self.unobserved:
            document["unobserved"] = [endpoint.as_dict() for endpoint in self.unobserved]
        return document


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one run decided, in a deterministic order, before anything is written."""

    generated_at: datetime
    actions: tuple[Action, ...]
    # `[[exceptions]]` and where each stands: reported with the plan, never written anywhere.
    exceptions: tuple[ExceptionStanding, ...] = ()

    @classmethod
    def of(
        cls,
        generated_at: datetime,
        actions: Iterable[Action],
        exceptions: Iterable[ExceptionStanding] = (),
    ) -> Plan:
        return cls(
            generated_at=generated_at,
            actions=tuple(sorted(actions, key=Action.sort_key)),
            exceptions=tuple(exceptions),
        )

    @property
    def summary(self) -> dict[str, int]:
        counts = {str(kind): 0 for kind in ActionKind}
        for action in self.actions:
            counts[str(action.kind)] += 1
        return counts

    @property
    def writes(self) -> int:
        """How many actions change a ticket or alert someone: what `max_changes` limits."""
        return sum(1 for action in self.actions if action.writes)

    @property
    def empty(self) -> bool:
        return self.writes == 0

    def raise_if_unsafe(self, max_changes: int, force: bool = False) -> None:
        if not force and self.writes > max_changes:
            raise UnsafePlan(self.writes, max_changes)

    def groups(self) -> list[tuple[str, tuple[Action, ...]]]:
        """Write actions per ticket, tickets in order of first appearance in the plan."""
        grouped: dict[str, list[Action]] = {}
        for action in self.actions:
            if action.writes:
                grouped.setdefault(action.group, []).append(action)
        return [(group, tuple(actions)) for group, actions in grouped.items()]

    def as_dict(self) -> dict[str, Any]:
        document = {
            "generated_at": iso_z(self.generated_at),
            "summary": self.summary,
            "writes": self.writes,
            "actions": [action.as_dict() for action in self.actions],
        }
        if self.exceptions:
            document["exceptions"] = [standing.as_dict() for standing in self.exceptions]
        return document

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)
