"""Tracked certificates + tickets + policy + now -> Plan: the only decider, a pure function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from ticketbridge.core.actions import (
    create_actions,
    due_date_change,
    duplicate_action,
    escalation_reason,
    page_action,
    reopen_action,
    resolve_page,
    update_action,
)
from ticketbridge.core.ctfindings import IssuedNotDeployed
from ticketbridge.core.exceptions import (
    ExceptionStanding,
    RiskException,
    Standing,
    excepted_ids,
    exception_standings,
)
from ticketbridge.core.explain import (
    evidence_of,
    join,
    stale_clause,
    with_comments,
)
from ticketbridge.core.findings import ambiguous_actions, unobserved_action, unplaceable_actions
from ticketbridge.core.index import RunFacts
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.match import Matches, match_tickets
from ticketbridge.core.model import (
    Ticket,
    TrackedCert,
)
from ticketbridge.core.plan import (
    DUPLICATE_LABEL,
    PAGED_LABEL,
    Action,
    ActionKind,
    CertificateSummary,
    Change,
    Plan,
    natural_key,
)
from ticketbridge.core.policy import (
    Policy,
    beyond_horizon,
    page_due,
    within_horizon,
)
from ticketbridge.core.ports import TicketEdit
from ticketbridge.core.timefmt import iso_z
from ticketbridge.core.undeployed import with_undeployed


def decide(
    inventory: Inventory,
    tickets: Iterable[Ticket],
    policy: Policy,
    now: datetime,
    *,
    paging: bool = True,
    exceptions: Iterable[RiskException] = (),
    undeployed: Mapping[str, IssuedNotDeployed] | None = None,
) -> Plan:
    """Decide every create, update, escalation, page, resolve, reopen and flag for this run.

    Pure: the same facts give the same plan whatever order they arrive in, and a plan applied
    and planned again over the same facts is empty. `paging=False` (no on-call sink is
    configured) plans no page events at all, so no comment claims that anyone was paged.
    A certificate under an active `[[exceptions]]` entry gets no renewal writes at all.
    `undeployed` (certificate id -> a renewal issued, logged in CT, served nowhere) keeps a
    certificate in need of its ticket whatever its expiry: `ticket_undeployed_renewals`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    facts = RunFacts.gather(inventory, policy, now, paging)
    matches = match_tickets(facts, tickets)
    standings = exception_standings(exceptions, facts.certs, policy, now)
    excepted = excepted_ids(standings)
    pending = undeployed or {}
    actions: list[Action] = []
    for cert_id in sorted(facts.certs):
        cert = facts.certs[cert_id]
        if within_horizon(cert, policy, now) or cert_id in pending:
            if cert_id not in excepted:
                needed = with_undeployed(_renewal_needed(facts, cert, matches), pending)
                actions.extend(_with_ended(needed, standings))
        else:
            for ticket in matches.open_markers.get(cert_id, ()):
                actions.extend(_renewed(facts, ticket, cert))
    for cert_id in sorted(set(matches.open_markers) - set(facts.certs) - set(facts.unplaceable)):
        for ticket in matches.open_markers[cert_id]:
            actions.extend(_renewed(facts, ticket, None))
    actions.extend(ambiguous_actions(facts, matches))
    actions.extend(unplaceable_actions(facts, matches))
    return Plan.of(now, with_comments(facts, actions), standings)


def _with_ended(actions: list[Action], standings: tuple[ExceptionStanding, ...]) -> list[Action]:
    """The first action about a certificate whose exception ended says so in its reason."""
    if not actions:
        return actions
    cert_id = actions[0].certificate.id
    for standing in standings:
        if standing.standing is Standing.ENDED and cert_id in standing.certificate_ids:
            entry = standing.exception
            ended = (
                f"its exception (approved by {entry.approved_by}: {entry.reason}) "
                f"ended {entry.until.isoformat()}"
            )
            actions[0] = replace(actions[0], reason=join(actions[0].reason, ended))
            break
    return actions


# -- a certificate that needs a renewal ticket ------------------------------------------------


def _renewal_needed(facts: RunFacts, cert: TrackedCert, matches: Matches) -> list[Action]:
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
        return create_actions(facts, cert)
    actions.extend(
        duplicate_action(facts, cert, primary, ticket)
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
        actions.append(reopen_action(facts, cert, ticket))

    due = due_date_change(facts, cert, ticket, failures)
    update = update_action(facts, cert, ticket, due, adopted_by=adopted_by, evidence=evidence)
    if update is not None:
        actions.append(update)

    due_after = due.new_due or ticket.due_date
    in_progress = ticket.in_progress and not reopen
    escalation = escalation_reason(
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
        actions.append(page_action(facts, cert, ticket))

    if actions:
        # Said once per ticket: the node still serving the old copy is why the renewal is open.
        first = actions[0]
        actions[0] = replace(first, reason=join(first.reason, stale_clause(cert)))
    if failures:
        actions.append(
            unobserved_action(
                facts.summaries[cert.id],
                ticket,
                failures,
                held_back=due.held_back,
                unprobed=None,
            )
        )
    return actions


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
        return [unobserved_action(summary, ticket, failures, held_back=None, unprobed=unprobed)]
    if not tracked:
        if cert is None:
            return [unobserved_action(summary, ticket, [], held_back=None, unprobed=[])]
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
    page = resolve_page(facts, summary, ticket)
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
