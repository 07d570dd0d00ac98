"""One decision written out: the action, its fields from and to, its reason and its evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ticketbridge.core.explain import (
    description,
    display,
    display_summary,
    due_explanation,
    earlier_reason,
    evidence_of,
    expiry_phrase,
    iso,
    join,
    off_path_clause,
    stale_clause,
    ticket_summary,
    when,
)
from ticketbridge.core.index import RunFacts
from ticketbridge.core.model import (
    MARKER_LABEL,
    Observation,
    Ticket,
    TrackedCert,
    marker_label,
)
from ticketbridge.core.plan import (
    DUPLICATE_LABEL,
    PAGED_LABEL,
    Action,
    ActionKind,
    CertificateSummary,
    Change,
    PageEvent,
)
from ticketbridge.core.policy import (
    describe_time_left,
    escalation_due,
    page_due,
    past_due,
)
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.core.timefmt import iso_z


def reopen_action(facts: RunFacts, cert: TrackedCert, ticket: Ticket) -> Action:
    return Action(
        kind=ActionKind.REOPEN,
        ticket=ticket.key,
        certificate=facts.summaries[cert.id],
        reason=(
            f"{ticket.key} was closed but {display(cert)} still expires "
            f"{when(cert, facts)}, within the {facts.policy.ticket_horizon_days}-day horizon"
        ),
        fields={"status": Change(ticket.status, "reopened")},
        ticket_url=ticket.url,
    )


@dataclass(frozen=True, slots=True)
class DueDateChange:
    """What the ticket's due date becomes, why, or which later date waits for a complete scan."""

    new_due: date | None = None
    reason: str | None = None
    held_back: tuple[date, date] | None = None


def due_date_change(
    facts: RunFacts, cert: TrackedCert, ticket: Ticket, failures: Sequence[Observation]
) -> DueDateChange:
    required = facts.required[cert.id]
    current = ticket.due_date
    if current is None:
        return DueDateChange(required, f"it had no due date; {due_explanation(cert, facts)}")
    if required < current:
        return DueDateChange(required, earlier_reason(facts, cert, current))
    if required > current and not facts.policy.keep_earlier_due_date:
        # An endpoint that could not be probed may serve this certificate expiring sooner,
        # and an early due date is the safe side: a later date waits for a complete scan.
        if failures:
            return DueDateChange(held_back=(current, required))
        return DueDateChange(
            required, f"due date {current} is earlier than needed; {due_explanation(cert, facts)}"
        )
    return DueDateChange()


def update_action(
    facts: RunFacts,
    cert: TrackedCert,
    ticket: Ticket,
    due: DueDateChange,
    *,
    adopted_by: str | None,
    evidence: Mapping[str, Any],
) -> Action | None:
    """The one edit of due date, marker labels and assignee, or None when nothing changes."""
    fields: dict[str, Change] = {}
    reasons: list[str] = [due.reason] if due.reason else []
    if due.new_due is not None:
        fields["duedate"] = Change(iso(ticket.due_date), due.new_due.isoformat())
        reasons.append(off_path_clause(cert, facts))
    missing = [
        label for label in (MARKER_LABEL, marker_label(cert.id)) if label not in ticket.labels
    ]
    if missing:
        fields["labels"] = Change(list(ticket.labels), [*ticket.labels, *missing])
        if adopted_by is not None:
            reasons.insert(
                0,
                f"its summary names {adopted_by}, served with certificate {cert.id}, "
                "so ticketbridge adopts it",
            )
        else:
            reasons.append(f"it lacked the {', '.join(missing)} label")
    assignee = cert.assignee if ticket.assignee is None and cert.assignee else None
    if assignee is not None:
        fields["assignee"] = Change(None, assignee)
        reasons.append(f"the inventory assigns {display(cert)} to {assignee}")
    if not fields:
        return None
    return Action(
        kind=ActionKind.UPDATE,
        ticket=ticket.key,
        certificate=facts.summaries[cert.id],
        reason=join(*reasons),
        fields=fields,
        edit=TicketEdit(
            due_date=due.new_due, add_labels=tuple(missing), assignee=assignee, evidence=evidence
        ),
        ticket_url=ticket.url,
    )


def create_actions(facts: RunFacts, cert: TrackedCert) -> list[Action]:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    required = facts.required[cert.id]
    escalation = escalation_reason(facts, cert, required, False, cert.assignee)
    priority = policy.escalation_priority if escalation is not None else None
    labels = (MARKER_LABEL, marker_label(cert.id))
    title = ticket_summary(cert)
    new_ticket = NewTicket(
        summary=title,
        description=description(cert, facts),
        due_date=required,
        labels=labels,
        certificate_id=cert.id,
        priority=priority,
        assignee=cert.assignee,
        evidence=evidence_of(cert, None, []),
    )
    fields: dict[str, Change] = {
        "summary": Change(None, title),
        "duedate": Change(None, required.isoformat()),
        "labels": Change(None, list(labels)),
    }
    if priority is not None:
        fields["priority"] = Change(None, priority)
    if cert.assignee:
        fields["assignee"] = Change(None, cert.assignee)
    actions = [
        Action(
            kind=ActionKind.CREATE,
            ticket=None,
            certificate=summary,
            reason=_create_reason(facts, cert),
            fields=fields,
            new_ticket=new_ticket,
        )
    ]
    if escalation is not None:
        actions.append(
            Action(
                kind=ActionKind.ESCALATE,
                ticket=None,
                certificate=summary,
                reason=escalation,
                fields={"priority": Change(None, policy.escalation_priority)},
            )
        )
    if facts.paging and page_due(cert, policy, now):
        actions.append(page_action(facts, cert, None))
    return actions


def _create_reason(facts: RunFacts, cert: TrackedCert) -> str:
    expired = cert.effective_not_after <= facts.now
    return join(
        f"no open ticket tracks {display(cert)}, which "
        + (
            f"already expired {when(cert, facts)}"
            if expired
            else f"expires {when(cert, facts)}, within the "
            f"{facts.policy.ticket_horizon_days}-day horizon"
        ),
        stale_clause(cert),
        off_path_clause(cert, facts),
    )


def escalation_reason(
    facts: RunFacts, cert: TrackedCert, due: date | None, in_progress: bool, assignee: str | None
) -> str | None:
    policy, now = facts.policy, facts.now
    if assignee:
        who = f"; @{assignee}, please renew it now"
    elif cert.owner:
        who = f"; nobody is assigned, owner {cert.owner}"
    else:
        who = "; nobody is assigned"
    if escalation_due(cert, policy, now):
        return (
            f"{display(cert)} {expiry_phrase(cert, facts)}, within the "
            f"{policy.escalate_within_days}-day "
            f"escalation window: priority raised to {policy.escalation_priority}{who}"
        )
    if past_due(due, policy, now) and not in_progress:
        return (
            f"the due date {due} has passed and the ticket is not in progress: priority raised "
            f"to {policy.escalation_priority}{who}"
        )
    return None


def page_action(facts: RunFacts, cert: TrackedCert, ticket: Ticket | None) -> Action:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    # The page is about the validated path (what paging waits for), not a served certificate
    # only older clients build through: that one is the ticket's business.
    expiry = cert.validated_path_not_after
    expired = expiry <= now
    timing = describe_time_left(expiry, now)
    # "expires 2026-12-05T21:44:22Z (in 2 days)", or "expired 2026-11-27T09:00:00Z (2 days ago)".
    verb, when_text = (
        ("expired", timing.removeprefix("expired ")) if expired else ("expires", timing)
    )
    text = f"{display(cert)} {verb} {iso_z(expiry)} ({when_text})"
    if ticket is not None:
        text += f"; renewal ticket {ticket.key}"
    event = PageEvent(
        event="trigger",
        dedup_key=cert.id,
        summary=text,
        certificate=summary,
        ticket=ticket.key if ticket else None,
        ticket_url=ticket.url if ticket else None,
    )
    window = "" if expired else f" and is within the {policy.page_within_days}-day paging window"
    labels_before = list(ticket.labels) if ticket is not None else None
    labels_after = [*(labels_before or []), PAGED_LABEL]
    return Action(
        kind=ActionKind.PAGE,
        ticket=ticket.key if ticket else None,
        certificate=summary,
        reason=f"{display(cert)} {timing if expired else 'expires ' + timing}{window}: "
        "on-call is paged",
        fields={"labels": Change(labels_before, labels_after)},
        edit=TicketEdit(add_labels=(PAGED_LABEL,)),
        page=event,
        ticket_url=ticket.url if ticket else None,
    )


def duplicate_action(facts: RunFacts, cert: TrackedCert, kept: Ticket, ticket: Ticket) -> Action:
    link = f"{kept.key} ({kept.url})" if kept.url else kept.key
    return Action(
        kind=ActionKind.DUPLICATE,
        ticket=ticket.key,
        certificate=facts.summaries[cert.id],
        reason=(
            f"{ticket.key} duplicates {link}, the oldest open ticket for {display(cert)}, "
            "which ticketbridge keeps"
        ),
        fields={"labels": Change(list(ticket.labels), [*ticket.labels, DUPLICATE_LABEL])},
        edit=TicketEdit(add_labels=(DUPLICATE_LABEL,)),
        ticket_url=ticket.url,
    )


def resolve_page(facts: RunFacts, summary: CertificateSummary, ticket: Ticket) -> PageEvent | None:
    """The page-resolve event for a renewal that is live everywhere, if the ticket was paged."""
    if not (facts.paging and PAGED_LABEL in ticket.labels):
        return None
    return PageEvent(
        event="resolve",
        dedup_key=summary.id,
        summary=f"{display_summary(summary)} renewed: live on every endpoint",
        certificate=summary,
        ticket=ticket.key,
        ticket_url=ticket.url,
    )
