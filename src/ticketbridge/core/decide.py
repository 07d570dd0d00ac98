"""Tracked certificates + tickets + policy + now -> Plan: the only decider, a pure function."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ticketbridge.core.explain import (
    MAX_LISTED_ENDPOINTS,
    description,
    display,
    display_summary,
    due_explanation,
    earlier_reason,
    evidence_of,
    expiry_phrase,
    iso,
    join,
    stale_clause,
    ticket_summary,
    when,
    with_comments,
)
from ticketbridge.core.index import RunFacts
from ticketbridge.core.inventory import Inventory
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
    Plan,
    UnobservedEndpoint,
    natural_key,
)
from ticketbridge.core.policy import (
    Policy,
    beyond_horizon,
    describe_time_left,
    escalation_due,
    page_due,
    past_due,
    within_horizon,
)
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.core.timefmt import iso_z

# Whole names in a summary: DNS labels, dots and a literal `*`; anything else separates them.
_NAME_TOKEN = re.compile(r"[\w*.-]+")


def decide(
    inventory: Inventory,
    tickets: Iterable[Ticket],
    policy: Policy,
    now: datetime,
    *,
    paging: bool = True,
) -> Plan:
    """Decide every create, update, escalation, page, resolve, reopen and flag for this run.

    Pure: the same facts give the same plan whatever order they arrive in, and a plan applied
    and planned again over the same facts is empty. `paging=False` (no on-call sink is
    configured) plans no page events at all, so no comment claims that anyone was paged.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    facts = RunFacts.gather(inventory, policy, now, paging)
    matches = _match(facts, tickets)
    actions: list[Action] = []
    for cert_id in sorted(facts.certs):
        cert = facts.certs[cert_id]
        if within_horizon(cert, policy, now):
            actions.extend(_renewal_needed(facts, cert, matches))
        else:
            for ticket in matches.open_markers.get(cert_id, ()):
                actions.extend(_renewed(facts, ticket, cert))
    for cert_id in sorted(set(matches.open_markers) - set(facts.certs) - set(facts.unplaceable)):
        for ticket in matches.open_markers[cert_id]:
            actions.extend(_renewed(facts, ticket, None))
    actions.extend(_ambiguous(facts, matches))
    actions.extend(_unplaceable(facts, matches))
    return Plan.of(now, with_comments(facts, actions))


# -- matching tickets to certificates ---------------------------------------------------------


@dataclass(slots=True)
class _Matches:
    open_markers: dict[str, list[Ticket]] = field(default_factory=dict)
    closed_markers: dict[str, list[Ticket]] = field(default_factory=dict)
    # open unmarked tickets whose summary names exactly one tracked certificate: id -> (ticket, name)
    adoptable: dict[str, list[tuple[Ticket, str]]] = field(default_factory=dict)
    # tickets naming several certificates (by markers or by summary): never written
    ambiguous: list[tuple[Ticket, tuple[str, ...], bool]] = field(default_factory=list)


def _oldest_first(ticket: Ticket) -> tuple[Any, ...]:
    return (ticket.created, natural_key(ticket.key))


def _match(facts: RunFacts, tickets: Iterable[Ticket]) -> _Matches:
    # One ticket per key whatever order or repetition the backend returned them in.
    unique = {
        ticket.key: ticket
        for ticket in sorted(
            tickets, key=lambda t: (natural_key(t.key), t.created, t.status, t.summary)
        )
    }
    matches = _Matches()
    open_markers: dict[str, list[Ticket]] = defaultdict(list)
    closed_markers: dict[str, list[Ticket]] = defaultdict(list)
    adoptable: dict[str, list[tuple[Ticket, str]]] = defaultdict(list)
    for ticket in unique.values():
        marker_ids = tuple(sorted(set(ticket.marker_ids)))
        if len(marker_ids) > 1:
            if ticket.is_open:
                matches.ambiguous.append((ticket, marker_ids, True))
            continue
        if marker_ids:
            (open_markers if ticket.is_open else closed_markers)[marker_ids[0]].append(ticket)
            continue
        if not ticket.is_open or DUPLICATE_LABEL in ticket.labels:
            continue
        named = _named_certificates(facts, ticket.summary)
        if len(named) == 1:
            ((cert_id, name),) = named.items()
            adoptable[cert_id].append((ticket, name))
        elif len(named) > 1:
            matches.ambiguous.append((ticket, tuple(sorted(named)), False))
    matches.open_markers = {k: sorted(v, key=_oldest_first) for k, v in open_markers.items()}
    matches.closed_markers = {k: sorted(v, key=_oldest_first) for k, v in closed_markers.items()}
    matches.adoptable = {
        k: sorted(v, key=lambda pair: _oldest_first(pair[0])) for k, v in adoptable.items()
    }
    return matches


def _named_certificates(facts: RunFacts, summary: str) -> dict[str, str]:
    """Tracked certificates a summary names, whole names only: id -> the name it used."""
    named: dict[str, str] = {}
    for token in _NAME_TOKEN.findall(summary.lower()):
        name = token.strip(".")
        if "." not in name:
            continue
        for cert_id in facts.by_name.get(name, set()) | facts.by_host.get(name, set()):
            named.setdefault(cert_id, name)
    return named


# -- a certificate that needs a renewal ticket ------------------------------------------------


def _renewal_needed(facts: RunFacts, cert: TrackedCert, matches: _Matches) -> list[Action]:
    marked = matches.open_markers.get(cert.id, [])
    candidates = [ticket for ticket, _ in matches.adoptable.get(cert.id, [])]
    if marked:
        primary, others = marked[0], marked[1:]
        actions = _keep_current(facts, cert, primary, adopted_by=None, reopen=False)
    elif candidates:
        primary, others = candidates[0], candidates[1:]
        name = matches.adoptable[cert.id][0][1]
        actions = _keep_current(facts, cert, primary, adopted_by=name, reopen=False)
    else:
        reopenable = _reopenable(facts, cert, matches.closed_markers.get(cert.id, []))
        if reopenable is not None:
            return _keep_current(facts, cert, reopenable, adopted_by=None, reopen=True)
        return _create(facts, cert)
    actions.extend(
        _duplicate(facts, cert, primary, ticket)
        for ticket in others
        if DUPLICATE_LABEL not in ticket.labels
    )
    return actions


def _reopenable(facts: RunFacts, cert: TrackedCert, closed: list[Ticket]) -> Ticket | None:
    """The closed marker ticket that was about this very expiry, if any.

    A ticket closed for an earlier lifetime of the same certificate (renewals keep the id) was
    due before the current required date: that renewal happened, this one needs a new ticket.
    """
    required = facts.required[cert.id]
    about_this_expiry = [t for t in closed if t.due_date is None or t.due_date >= required]
    if not about_this_expiry:
        return None
    return max(about_this_expiry, key=lambda t: (t.resolved_at or t.created, natural_key(t.key)))


def _keep_current(
    facts: RunFacts, cert: TrackedCert, ticket: Ticket, *, adopted_by: str | None, reopen: bool
) -> list[Action]:
    """Everything one matched ticket needs this run: reopen, due date, labels, priority, page."""
    policy = facts.policy
    failures = facts.failures(cert.id, ticket)
    evidence = evidence_of(cert, ticket, failures)
    actions: list[Action] = []
    if reopen:
        actions.append(_reopen(facts, cert, ticket))

    due = _due_date_change(facts, cert, ticket, failures)
    update = _update(facts, cert, ticket, due, adopted_by=adopted_by, evidence=evidence)
    if update is not None:
        actions.append(update)

    due_after = due.new_due or ticket.due_date
    in_progress = ticket.in_progress and not reopen
    escalation = _escalation_reason(
        facts, cert, due_after, in_progress, ticket.assignee or cert.assignee
    )
    if escalation is not None and ticket.priority != policy.escalation_priority:
        actions.append(
            Action(
                kind=ActionKind.ESCALATE,
                ticket=ticket.key,
                certificate=facts.summaries[cert.id],
                reason=escalation,
                fields={"priority": Change(ticket.priority, policy.escalation_priority)},
                edit=TicketEdit(priority=policy.escalation_priority, evidence=evidence),
                ticket_url=ticket.url,
            )
        )

    # A reopened ticket's page label belongs to a page already resolved: page again.
    paged = PAGED_LABEL in ticket.labels
    if facts.paging and page_due(cert, policy, facts.now) and (reopen or not paged):
        actions.append(_page(facts, cert, ticket))

    if actions:
        # Said once per ticket: the node still serving the old copy is why the renewal is open.
        first = actions[0]
        actions[0] = replace(first, reason=join(first.reason, stale_clause(cert, facts)))
    if failures:
        actions.append(
            _unobserved(
                facts,
                facts.summaries[cert.id],
                ticket,
                failures,
                held_back=due.held_back,
                unprobed=None,
            )
        )
    return actions


def _reopen(facts: RunFacts, cert: TrackedCert, ticket: Ticket) -> Action:
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
class _DueDateChange:
    """What the ticket's due date becomes, why, or which later date waits for a complete scan."""

    new_due: date | None = None
    reason: str | None = None
    held_back: tuple[date, date] | None = None


def _due_date_change(
    facts: RunFacts, cert: TrackedCert, ticket: Ticket, failures: Sequence[Observation]
) -> _DueDateChange:
    required = facts.required[cert.id]
    current = ticket.due_date
    if current is None:
        return _DueDateChange(required, f"it had no due date; {due_explanation(cert, facts)}")
    if required < current:
        return _DueDateChange(required, earlier_reason(facts, cert, current))
    if required > current and not facts.policy.keep_earlier_due_date:
        # An endpoint that could not be probed may serve this certificate expiring sooner,
        # and an early due date is the safe side: a later date waits for a complete scan.
        if failures:
            return _DueDateChange(held_back=(current, required))
        return _DueDateChange(
            required, f"due date {current} is earlier than needed; {due_explanation(cert, facts)}"
        )
    return _DueDateChange()


def _update(
    facts: RunFacts,
    cert: TrackedCert,
    ticket: Ticket,
    due: _DueDateChange,
    *,
    adopted_by: str | None,
    evidence: Mapping[str, Any],
) -> Action | None:
    """The one edit of due date, marker labels and assignee, or None when nothing changes."""
    fields: dict[str, Change] = {}
    reasons: list[str] = [due.reason] if due.reason else []
    if due.new_due is not None:
        fields["duedate"] = Change(iso(ticket.due_date), due.new_due.isoformat())
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


def _create(facts: RunFacts, cert: TrackedCert) -> list[Action]:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    required = facts.required[cert.id]
    escalation = _escalation_reason(facts, cert, required, False, cert.assignee)
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
    expired = cert.effective_not_after <= now
    actions = [
        Action(
            kind=ActionKind.CREATE,
            ticket=None,
            certificate=summary,
            reason=join(
                f"no open ticket tracks {display(cert)}, which "
                + (
                    f"already expired {when(cert, facts)}"
                    if expired
                    else f"expires {when(cert, facts)}, within the "
                    f"{policy.ticket_horizon_days}-day horizon"
                ),
                stale_clause(cert, facts),
            ),
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
        actions.append(_page(facts, cert, None))
    return actions


def _escalation_reason(
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


def _page(facts: RunFacts, cert: TrackedCert, ticket: Ticket | None) -> Action:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    timing = describe_time_left(cert.effective_not_after, now)
    text = f"{display(cert)} expires {iso_z(cert.effective_not_after)} ({timing})"
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
    window = (
        "has already expired"
        if cert.effective_not_after <= now
        else f"is within the {policy.page_within_days}-day paging window"
    )
    labels_before = list(ticket.labels) if ticket is not None else None
    labels_after = [*(labels_before or []), PAGED_LABEL]
    return Action(
        kind=ActionKind.PAGE,
        ticket=ticket.key if ticket else None,
        certificate=summary,
        reason=f"{display(cert)} {expiry_phrase(cert, facts)} and {window}: on-call is paged",
        fields={"labels": Change(labels_before, labels_after)},
        edit=TicketEdit(add_labels=(PAGED_LABEL,)),
        page=event,
        ticket_url=ticket.url if ticket else None,
    )


def _duplicate(facts: RunFacts, cert: TrackedCert, kept: Ticket, ticket: Ticket) -> Action:
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


# -- a certificate that no longer needs its ticket --------------------------------------------


def _renewed(facts: RunFacts, ticket: Ticket, cert: TrackedCert | None) -> list[Action]:
    """Resolve a marker ticket once everything it tracked serves certificates beyond the horizon."""
    policy = facts.policy
    if not policy.resolve_on_renewal:
        return []
    cert_id = cert.id if cert is not None else ticket.marker_ids[0]
    summary = (
        facts.summaries[cert_id]
        if cert is not None
        else CertificateSummary(id=cert_id, endpoints=tuple(sorted(ticket.tracked_endpoints)))
    )
    tracked = sorted(set(ticket.tracked_endpoints))
    failures = facts.failures(cert.id if cert is not None else None, ticket, by_name=not tracked)
    missing = [label for label in tracked if label not in facts.served_expiry]
    unprobed = [label for label in missing if label not in facts.failed_by_label]
    if failures or (tracked and unprobed):
        return [_unobserved(facts, summary, ticket, failures, held_back=None, unprobed=unprobed)]
    if not tracked:
        if cert is None:
            return [_unobserved(facts, summary, ticket, [], held_back=None, unprobed=[])]
        expiries = [cert.effective_not_after]
        now_served = [cert.id]
    else:
        expiries = [facts.served_expiry[label] for label in tracked]
        if not all(beyond_horizon(expiry, policy, facts.now) for expiry in expiries):
            # Some endpoint it tracked serves another certificate that is still expiring: that
            # certificate has its own ticket; this one stays open until the endpoint moves on.
            return []
        now_served = sorted({i for label in tracked for i in facts.served_ids.get(label, ())})
    earliest = min(expiries)
    related = tuple(facts.summaries[i] for i in now_served if i != cert_id)
    fingerprints = sorted({fp for i in now_served for fp in facts.summaries[i].fingerprints})
    count = len(tracked) if tracked else len(summary.endpoints)
    page = (
        PageEvent(
            event="resolve",
            dedup_key=cert_id,
            summary=f"{display_summary(summary)} renewed: live on every endpoint",
            certificate=summary,
            ticket=ticket.key,
            ticket_url=ticket.url,
        )
        if facts.paging and PAGED_LABEL in ticket.labels
        else None
    )
    return [
        Action(
            kind=ActionKind.RESOLVE,
            ticket=ticket.key,
            certificate=summary,
            reason=(
                f"all {count} endpoint{'s' if count != 1 else ''} it tracked now serve "
                f"certificate{'s' if len(fingerprints) != 1 else ''} "
                f"{', '.join(fp[:16] for fp in fingerprints)} expiring {iso_z(earliest)} at the "
                f"earliest, beyond the {policy.ticket_horizon_days}-day horizon"
            ),
            fields={"status": Change(ticket.status, "done")},
            page=page,
            related=related,
            ticket_url=ticket.url,
            paged=page is not None,
        )
    ]


# -- report-only findings ---------------------------------------------------------------------


def _unobserved(
    facts: RunFacts,
    summary: CertificateSummary,
    ticket: Ticket,
    failures: Sequence[Observation],
    *,
    held_back: tuple[date, date] | None,
    unprobed: Sequence[str] | None,
) -> Action:
    cert_id = summary.id
    endpoints = [
        UnobservedEndpoint(
            endpoint=o.endpoint.label,
            error_kind=str(o.error.kind) if o.error else "error",
            message=o.error.message if o.error else "",
        )
        for o in failures[:MAX_LISTED_ENDPOINTS]
    ]
    endpoints.extend(
        UnobservedEndpoint(label, "missing", "not probed this run") for label in unprobed or ()
    )
    total = len(failures) + len(unprobed or ())
    if endpoints:
        what = ", ".join(f"{e.endpoint} ({e.error_kind})" for e in endpoints[:5]) + (
            f" and {total - 5} more" if total > 5 else ""
        )
        plural = "s" if total > 1 else ""
        reason = f"endpoint{plural} {what} could not be probed this run"
    else:
        reason = f"no endpoint served certificate {cert_id} this run and {ticket.key} records none"
    if held_back is not None:
        reason += (
            f", so the due date stays {held_back[0]} instead of moving later to {held_back[1]}"
        )
    elif unprobed is not None:
        reason += f", so {ticket.key} is not resolved"
    else:
        reason += ", so nothing is concluded from them"
    return Action(
        kind=ActionKind.UNOBSERVED,
        ticket=ticket.key,
        certificate=summary,
        reason=reason,
        unobserved=tuple(endpoints),
        ticket_url=ticket.url,
    )


def _ambiguous(facts: RunFacts, matches: _Matches) -> list[Action]:
    actions = []
    for ticket, cert_ids, by_marker in matches.ambiguous:
        known = [facts.certs[i] for i in cert_ids if i in facts.certs]
        # Tickets that merely mention hosts matter once one of them needs a renewal ticket.
        if not by_marker and not any(
            within_horizon(cert, facts.policy, facts.now) for cert in known
        ):
            continue
        summaries = [facts.summaries.get(i) or CertificateSummary(id=i) for i in cert_ids]
        how = "carries markers of" if by_marker else "names"
        named = "; ".join(f"{display_summary(s)} ({s.id})" for s in summaries)
        actions.append(
            Action(
                kind=ActionKind.AMBIGUOUS,
                ticket=ticket.key,
                certificate=summaries[0],
                reason=(
                    f"{ticket.key} {how} {len(summaries)} tracked certificates ({named}), "
                    "so ticketbridge does not write to it"
                ),
                related=tuple(summaries[1:]),
                ticket_url=ticket.url,
            )
        )
    return actions


def _unplaceable(facts: RunFacts, matches: _Matches) -> list[Action]:
    """A certificate whose expiry has no due date is reported, and its tickets left alone: a
    fact the planner cannot place is no reason to create, move or close anything."""
    actions = []
    for cert_id in sorted(facts.unplaceable):
        cert, problem = facts.unplaceable[cert_id]
        tickets = matches.open_markers.get(cert_id, [])
        untouched = f"; {', '.join(t.key for t in tickets)} left as is" if tickets else ""
        actions.append(
            Action(
                kind=ActionKind.UNPLACEABLE,
                ticket=tickets[0].key if tickets else None,
                certificate=CertificateSummary.of(cert),
                reason=f"{display(cert)}: {problem}, so nothing is planned for it{untouched}",
                ticket_url=tickets[0].url if tickets else None,
            )
        )
    return actions
