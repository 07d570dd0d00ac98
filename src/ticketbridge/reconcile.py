"""Tracked certificates + tickets + policy + now -> Plan: the only decider, a pure function."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ticketbridge.inventory import Inventory
from ticketbridge.model import (
    MARKER_LABEL,
    Observation,
    Protocol,
    Ticket,
    TrackedCert,
    marker_label,
)
from ticketbridge.plan import (
    DUPLICATE_LABEL,
    PAGED_LABEL,
    Action,
    ActionKind,
    CertificateSummary,
    Change,
    PageEvent,
    Plan,
    UnobservedEndpoint,
    iso_z,
    natural_key,
)
from ticketbridge.policy import (
    Policy,
    beyond_horizon,
    describe_time_left,
    escalation_due,
    lead_days_for,
    local_date,
    page_due,
    past_due,
    required_due_date,
    within_horizon,
)
from ticketbridge.tickets.base import MAX_SUMMARY, NewTicket, TicketEdit

# Comments stay far below Jira's 32,767 characters even for a certificate on thousands of nodes.
MAX_LISTED_ENDPOINTS = 50

# Whole names in a summary: DNS labels, dots and a literal `*`; anything else separates them.
_NAME_TOKEN = re.compile(r"[\w*.-]+")


def plan(
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
    facts = _Facts.gather(inventory, policy, now, paging)
    matches = _match(facts, tickets)
    actions: list[Action] = []
    for cert_id in sorted(facts.certs):
        cert = facts.certs[cert_id]
        if within_horizon(cert, policy, now):
            actions.extend(_renewal_needed(facts, cert, matches))
        else:
            for ticket in matches.open_markers.get(cert_id, ()):
                actions.extend(_renewed(facts, ticket, cert))
    for cert_id in sorted(set(matches.open_markers) - set(facts.certs)):
        for ticket in matches.open_markers[cert_id]:
            actions.extend(_renewed(facts, ticket, None))
    actions.extend(_ambiguous(facts, matches))
    return Plan.of(now, _with_comments(facts, actions))


# -- the facts of this run, indexed once ------------------------------------------------------


@dataclass(slots=True)
class _Facts:
    policy: Policy
    now: datetime
    paging: bool
    certs: dict[str, TrackedCert]
    summaries: dict[str, CertificateSummary]
    required: dict[str, date]
    by_name: dict[str, set[str]]
    by_host: dict[str, set[str]]
    # endpoint label -> earliest effective expiry served there this run, and by which certs
    served_expiry: dict[str, datetime]
    served_ids: dict[str, set[str]]
    failed_by_label: dict[str, list[Observation]]
    failed_by_host: dict[str, list[Observation]]
    # failed probes of a host serving the certificate now (another load-balancer node, say)
    failed_at_host: dict[str, list[Observation]]
    # failed probes of a host the certificate names, literally or by wildcard
    failed_at_name: dict[str, list[Observation]]
    # required due date -> certificates due then: explains a due date copied from another one
    by_required: dict[date, list[str]]

    @classmethod
    def gather(cls, inventory: Inventory, policy: Policy, now: datetime, paging: bool) -> _Facts:
        certs = _merge_same_id(inventory.certificates)
        by_name: dict[str, set[str]] = defaultdict(set)
        by_host: dict[str, set[str]] = defaultdict(set)
        served_expiry: dict[str, datetime] = {}
        served_ids: dict[str, set[str]] = defaultdict(set)
        required: dict[str, date] = {}
        by_required: dict[date, list[str]] = defaultdict(list)
        for cert_id, cert in certs.items():
            for name in cert.names:
                by_name[name].add(cert_id)
            for endpoint in cert.endpoints:
                if endpoint.protocol is not Protocol.FILE:
                    by_host[_host(endpoint.host)].add(cert_id)
            for label, expiry in _served_expiries(cert):
                served_ids[label].add(cert_id)
                previous = served_expiry.get(label)
                served_expiry[label] = expiry if previous is None else min(previous, expiry)
            required[cert_id] = required_due_date(cert, policy)
            by_required[required[cert_id]].append(cert_id)
        failed_by_label: dict[str, list[Observation]] = defaultdict(list)
        failed_by_host: dict[str, list[Observation]] = defaultdict(list)
        failed_at_host: dict[str, list[Observation]] = defaultdict(list)
        failed_at_name: dict[str, list[Observation]] = defaultdict(list)
        for observation in sorted(inventory.unobserved, key=lambda o: o.endpoint):
            failed_by_label[observation.endpoint.label].append(observation)
            if observation.endpoint.protocol is Protocol.FILE:
                continue
            host = _host(observation.endpoint.host)
            failed_by_host[host].append(observation)
            for cert_id in by_host.get(host, set()):
                failed_at_host[cert_id].append(observation)
            # A host that failed may serve any certificate naming it, literally or by wildcard.
            named = set(by_name.get(host, set()))
            if "." in host:
                named |= by_name.get("*." + host.split(".", 1)[1], set())
            for cert_id in named:
                failed_at_name[cert_id].append(observation)
        return cls(
            policy=policy,
            now=now,
            paging=paging,
            certs=certs,
            summaries={cert_id: CertificateSummary.of(cert) for cert_id, cert in certs.items()},
            required=required,
            by_name=dict(by_name),
            by_host=dict(by_host),
            served_expiry=served_expiry,
            served_ids=dict(served_ids),
            failed_by_label=dict(failed_by_label),
            failed_by_host=dict(failed_by_host),
            failed_at_host=dict(failed_at_host),
            failed_at_name=dict(failed_at_name),
            by_required=dict(by_required),
        )

    def failures(
        self, cert_id: str | None, ticket: Ticket | None, *, by_name: bool = True
    ) -> list[Observation]:
        """Failed probes that may have served this certificate or that this ticket tracks.

        `by_name` widens the net to every host the certificate names (wildcards included):
        without a record of the endpoints a ticket tracked, any of them might serve it.
        """
        found: dict[Any, Observation] = {}
        if cert_id is not None:
            related = list(self.failed_at_host.get(cert_id, ()))
            if by_name:
                related.extend(self.failed_at_name.get(cert_id, ()))
            for observation in related:
                found[observation.endpoint] = observation
        if ticket is not None:
            for label in ticket.tracked_endpoints:
                candidates = list(self.failed_by_label.get(label, ()))
                host = _label_host(label)
                if host is not None:
                    candidates.extend(self.failed_by_host.get(host, ()))
                for observation in candidates:
                    found[observation.endpoint] = observation
        return [found[endpoint] for endpoint in sorted(found)]


def _host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _label_host(label: str) -> str | None:
    """The host of a `host:port@address` label; None for certificate files."""
    if label.startswith("file:"):
        return None
    host_port = label.split("@", 1)[0]
    return _host(host_port.rsplit(":", 1)[0]) if ":" in host_port else _host(host_port)


def _served_expiries(cert: TrackedCert) -> list[tuple[str, datetime]]:
    if not cert.observations:
        return [(label, cert.effective_not_after) for label in cert.endpoint_labels]
    return [
        (observation.endpoint.label, observation.effective_not_after or cert.effective_not_after)
        for observation in cert.observations
    ]


def _merge_same_id(certificates: Sequence[TrackedCert]) -> dict[str, TrackedCert]:
    """Two name sets pinned to one id are one tracked certificate: the earliest expiry wins."""
    merged: dict[str, TrackedCert] = {}
    for cert in sorted(certificates, key=lambda c: (c.id, c.names)):
        seen = merged.get(cert.id)
        if seen is None:
            merged[cert.id] = cert
            continue
        merged[cert.id] = replace(
            seen,
            names=tuple(sorted(set(seen.names) | set(cert.names))),
            effective_not_after=min(seen.effective_not_after, cert.effective_not_after),
            fingerprints=tuple(sorted(set(seen.fingerprints) | set(cert.fingerprints))),
            endpoints=tuple(sorted(set(seen.endpoints) | set(cert.endpoints))),
            observations=seen.observations + cert.observations,
        )
    return merged


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


def _match(facts: _Facts, tickets: Iterable[Ticket]) -> _Matches:
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


def _named_certificates(facts: _Facts, summary: str) -> dict[str, str]:
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


def _renewal_needed(facts: _Facts, cert: TrackedCert, matches: _Matches) -> list[Action]:
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


def _reopenable(facts: _Facts, cert: TrackedCert, closed: list[Ticket]) -> Ticket | None:
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
    facts: _Facts, cert: TrackedCert, ticket: Ticket, *, adopted_by: str | None, reopen: bool
) -> list[Action]:
    """Everything one matched ticket needs this run: reopen, due date, labels, priority, page."""
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    required = facts.required[cert.id]
    failures = facts.failures(cert.id, ticket)
    evidence = _evidence(cert, ticket, failures)
    actions: list[Action] = []

    if reopen:
        actions.append(
            Action(
                kind=ActionKind.REOPEN,
                ticket=ticket.key,
                certificate=summary,
                reason=(
                    f"{ticket.key} was closed but {_display(cert)} still expires "
                    f"{_when(cert, facts)}, within the {policy.ticket_horizon_days}-day horizon"
                ),
                fields={"status": Change(ticket.status, "reopened")},
                ticket_url=ticket.url,
            )
        )

    fields: dict[str, Change] = {}
    reasons: list[str] = []
    held_back: tuple[date, date] | None = None
    new_due: date | None = None
    current = ticket.due_date
    if current is None:
        new_due = required
        reasons.append(f"it had no due date; {_due_explanation(cert, facts)}")
    elif required < current:
        new_due = required
        reasons.append(_earlier_reason(facts, cert, current))
    elif required > current and not policy.keep_earlier_due_date:
        # An endpoint that could not be probed may serve this certificate expiring sooner,
        # and an early due date is the safe side: a later date waits for a complete scan.
        if failures:
            held_back = (current, required)
        else:
            new_due = required
            reasons.append(
                f"due date {current} is earlier than needed; {_due_explanation(cert, facts)}"
            )
    if new_due is not None:
        fields["duedate"] = Change(_iso(current), new_due.isoformat())
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
        reasons.append(f"the inventory assigns {_display(cert)} to {assignee}")
    if fields:
        actions.append(
            Action(
                kind=ActionKind.UPDATE,
                ticket=ticket.key,
                certificate=summary,
                reason=_join(*reasons),
                fields=fields,
                edit=TicketEdit(
                    due_date=new_due,
                    add_labels=tuple(missing),
                    assignee=assignee,
                    evidence=evidence,
                ),
                ticket_url=ticket.url,
            )
        )

    due_after = new_due or current
    in_progress = ticket.in_progress and not reopen
    escalation = _escalation_reason(
        facts, cert, due_after, in_progress, ticket.assignee or cert.assignee
    )
    if escalation is not None and ticket.priority != policy.escalation_priority:
        actions.append(
            Action(
                kind=ActionKind.ESCALATE,
                ticket=ticket.key,
                certificate=summary,
                reason=escalation,
                fields={"priority": Change(ticket.priority, policy.escalation_priority)},
                edit=TicketEdit(priority=policy.escalation_priority, evidence=evidence),
                ticket_url=ticket.url,
            )
        )

    # A reopened ticket's page label belongs to a page already resolved: page again.
    paged = PAGED_LABEL in ticket.labels
    if facts.paging and page_due(cert, policy, now) and (reopen or not paged):
        actions.append(_page(facts, cert, ticket))

    if actions:
        # Said once per ticket: the node still serving the old copy is why the renewal is open.
        first = actions[0]
        actions[0] = replace(first, reason=_join(first.reason, _stale_clause(cert, facts)))
    if failures:
        actions.append(_unobserved(facts, cert.id, summary, ticket, failures, held_back, None))
    return actions


def _create(facts: _Facts, cert: TrackedCert) -> list[Action]:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    required = facts.required[cert.id]
    escalation = _escalation_reason(facts, cert, required, False, cert.assignee)
    priority = policy.escalation_priority if escalation is not None else None
    labels = (MARKER_LABEL, marker_label(cert.id))
    title = _ticket_summary(cert)
    new_ticket = NewTicket(
        summary=title,
        description=_description(cert, facts),
        due_date=required,
        labels=labels,
        certificate_id=cert.id,
        priority=priority,
        assignee=cert.assignee,
        evidence=_evidence(cert, None, []),
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
            reason=_join(
                f"no open ticket tracks {_display(cert)}, which "
                + (
                    f"already expired {_when(cert, facts)}"
                    if expired
                    else f"expires {_when(cert, facts)}, within the "
                    f"{policy.ticket_horizon_days}-day horizon"
                ),
                _stale_clause(cert, facts),
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
    facts: _Facts, cert: TrackedCert, due: date | None, in_progress: bool, assignee: str | None
) -> str | None:
    policy, now = facts.policy, facts.now
    if assignee:
        who = f"; @{assignee}, please renew it now"
    elif cert.owner:
        who = f"; nobody is assigned, owner {cert.owner}"
    else:
        who = "; nobody is assigned"
    if escalation_due(cert, policy, now):
        timing = describe_time_left(cert.effective_not_after, now)
        return (
            f"{_display(cert)} expires {timing}, within the {policy.escalate_within_days}-day "
            f"escalation window: priority raised to {policy.escalation_priority}{who}"
        )
    if past_due(due, policy, now) and not in_progress:
        return (
            f"the due date {due} has passed and the ticket is not in progress: priority raised "
            f"to {policy.escalation_priority}{who}"
        )
    return None


def _page(facts: _Facts, cert: TrackedCert, ticket: Ticket | None) -> Action:
    policy, now = facts.policy, facts.now
    summary = facts.summaries[cert.id]
    timing = describe_time_left(cert.effective_not_after, now)
    text = f"{_display(cert)} expires {iso_z(cert.effective_not_after)} ({timing})"
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
        reason=f"{_display(cert)} expires {timing} and {window}: on-call is paged",
        fields={"labels": Change(labels_before, labels_after)},
        edit=TicketEdit(add_labels=(PAGED_LABEL,)),
        page=event,
        ticket_url=ticket.url if ticket else None,
    )


def _duplicate(facts: _Facts, cert: TrackedCert, kept: Ticket, ticket: Ticket) -> Action:
    link = f"{kept.key} ({kept.url})" if kept.url else kept.key
    return Action(
        kind=ActionKind.DUPLICATE,
        ticket=ticket.key,
        certificate=facts.summaries[cert.id],
        reason=(
            f"{ticket.key} duplicates {link}, the oldest open ticket for {_display(cert)}, "
            "which ticketbridge keeps"
        ),
        fields={"labels": Change(list(ticket.labels), [*ticket.labels, DUPLICATE_LABEL])},
        edit=TicketEdit(add_labels=(DUPLICATE_LABEL,)),
        ticket_url=ticket.url,
    )


# -- a certificate that no longer needs its ticket --------------------------------------------


def _renewed(facts: _Facts, ticket: Ticket, cert: TrackedCert | None) -> list[Action]:
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
        return [_unobserved(facts, cert_id, summary, ticket, failures, None, unprobed)]
    if not tracked:
        if cert is None:
            return [_unobserved(facts, cert_id, summary, ticket, [], None, [])]
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
            summary=f"{_display_summary(summary)} renewed: live on every endpoint",
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
    facts: _Facts,
    cert_id: str,
    summary: CertificateSummary,
    ticket: Ticket,
    failures: Sequence[Observation],
    held_back: tuple[date, date] | None,
    unprobed: Sequence[str] | None,
) -> Action:
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


def _ambiguous(facts: _Facts, matches: _Matches) -> list[Action]:
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
        named = "; ".join(f"{_display_summary(s)} ({s.id})" for s in summaries)
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


# -- words: summaries, reasons and evidence ---------------------------------------------------


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _display(cert: TrackedCert) -> str:
    """The one name people know a certificate by: its CN when listed, else a wildcard."""
    names = cert.names
    for observation in cert.observations:
        common_name = observation.certificate.common_name if observation.certificate else None
        if common_name and common_name.strip().lower() in names:
            return common_name.strip().lower()
    wildcards = [name for name in names if name.startswith("*.")]
    if wildcards:
        return wildcards[0]
    return min(names, key=lambda name: (len(name), name)) if names else cert.id


def _display_summary(summary: CertificateSummary) -> str:
    wildcards = [name for name in summary.names if name.startswith("*.")]
    if wildcards:
        return wildcards[0]
    if summary.names:
        return min(summary.names, key=lambda name: (len(name), name))
    return f"certificate {summary.id}"


def _ticket_summary(cert: TrackedCert) -> str:
    name = _display(cert)
    others = len(cert.names) - 1
    suffix = f" (+{others} name{'s' if others != 1 else ''})" if others > 0 else ""
    title = f"Renew TLS certificate {name}{suffix}"
    if len(title) > MAX_SUMMARY:
        keep = MAX_SUMMARY - len("Renew TLS certificate ") - len(suffix) - 1
        title = f"Renew TLS certificate {name[:keep]}…{suffix}"
    return title


def _when(cert: TrackedCert, facts: _Facts) -> str:
    return (
        f"{iso_z(cert.effective_not_after)} "
        f"({describe_time_left(cert.effective_not_after, facts.now)})"
    )


def _due_explanation(cert: TrackedCert, facts: _Facts) -> str:
    lead = lead_days_for(cert, facts.policy)
    expiry_day = local_date(cert.effective_not_after, facts.policy)
    return (
        f"{_display(cert)} expires {expiry_day} ({facts.policy.timezone}), so it is due "
        f"{facts.required[cert.id]} with {lead} days' lead time"
    )


def _earlier_reason(facts: _Facts, cert: TrackedCert, current: date) -> str:
    """Why the due date moves earlier; names the certificate it was copied from if one fits."""
    earliest = _earliest_hosts(cert)
    expiry_day = local_date(cert.effective_not_after, facts.policy)
    for other_id in sorted(facts.by_required.get(current, ())):
        if other_id == cert.id:
            continue
        other = facts.certs[other_id]
        other_day = local_date(other.effective_not_after, facts.policy)
        verb = "serve" if " and " in earliest else "serves"
        return (
            f"due date tracked a certificate that expires {other_day} ({_display(other)}); "
            f"{earliest} {verb} one expiring {expiry_day}"
        )
    return (
        f"due date {current} is later than required; {_due_explanation(cert, facts)}, "
        f"as served by {earliest}"
    )


def _earliest_hosts(cert: TrackedCert) -> str:
    """The hosts serving the earliest-expiring copy of the certificate, or its first endpoint."""
    hosts = sorted(
        {
            observation.endpoint.host
            for observation in cert.observations
            if observation.effective_not_after == cert.effective_not_after
        }
    )
    if not hosts:
        hosts = sorted({endpoint.host for endpoint in cert.endpoints})
    return " and ".join(hosts[:3]) + (" and others" if len(hosts) > 3 else "") or cert.id


def _stale_clause(cert: TrackedCert, facts: _Facts) -> str:
    """Names the endpoints still serving an older copy when the others serve a renewal."""
    expiries = {o.effective_not_after for o in cert.observations if o.effective_not_after}
    if len(expiries) < 2:
        return ""
    oldest = min(expiries)
    stale = sorted({o.endpoint.label for o in cert.observations if o.effective_not_after == oldest})
    renewed = [
        o for o in cert.observations if o.effective_not_after and o.effective_not_after > oldest
    ]
    later = max(o.effective_not_after for o in renewed if o.effective_not_after)
    verb = "still serves" if len(stale) == 1 else "still serve"
    others = len({o.endpoint for o in renewed})
    return (
        f"{', '.join(stale)} {verb} the certificate expiring {iso_z(oldest)} while "
        f"{others} other endpoint{'s' if others != 1 else ''} serve{'s' if others == 1 else ''} "
        f"one expiring {iso_z(later)}, so the renewal is not done"
    )


def _description(cert: TrackedCert, facts: _Facts) -> str:
    lines = [
        f"The TLS certificate for {', '.join(cert.names)} expires "
        f"{iso_z(cert.effective_not_after)} and must be renewed and deployed to every endpoint "
        f"serving it by {facts.required[cert.id]}.",
        "",
        "Endpoints serving it when this ticket was filed:",
        *(f"- {label}" for label in cert.endpoint_labels[:MAX_LISTED_ENDPOINTS]),
        *(
            [f"- and {len(cert.endpoint_labels) - MAX_LISTED_ENDPOINTS} more"]
            if len(cert.endpoint_labels) > MAX_LISTED_ENDPOINTS
            else []
        ),
        "",
        f"ticketbridge tracks this renewal with the label {marker_label(cert.id)}: keep it. "
        "The ticket is resolved automatically once every endpoint serves the renewed certificate.",
    ]
    if cert.owner:
        lines.insert(1, f"Owner: {cert.owner}")
    return "\n".join(lines)


def _evidence(
    cert: TrackedCert, ticket: Ticket | None, failures: Sequence[Observation]
) -> Mapping[str, Any]:
    """Machine-readable evidence the backend keeps: what served the certificate this run.

    Endpoints that could not be probed stay tracked, so a later run still waits for them.
    """
    failed = {o.endpoint.label for o in failures}
    kept = [label for label in (ticket.tracked_endpoints if ticket else ()) if label in failed]
    return {
        "certificate_id": cert.id,
        "endpoints": sorted(set(cert.endpoint_labels) | set(kept)),
        "fingerprints": list(cert.fingerprints),
        "effective_not_after": iso_z(cert.effective_not_after),
    }


def _with_comments(facts: _Facts, actions: list[Action]) -> list[Action]:
    """Gives every write the evidence comment of its ticket: one comment per ticket per run."""
    groups: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        if action.writes:
            groups[action.group].append(action)
    comments = {group: _comment(facts, members) for group, members in groups.items()}
    return [
        replace(action, comment=comments[action.group]) if action.writes else action
        for action in actions
    ]


_CHANGE_NAMES = {
    "duedate": "due date",
    "labels": "labels",
    "priority": "priority",
    "assignee": "assignee",
    "summary": "summary",
    "status": "status",
}


def _comment(facts: _Facts, actions: list[Action]) -> str:
    actions = sorted(actions, key=Action.sort_key)
    certificate = actions[0].certificate
    kinds = ", ".join(dict.fromkeys(str(action.kind) for action in actions))
    lines = [f"ticketbridge {kinds} ({iso_z(facts.now)})", ""]
    lines.extend(f"- {action.kind}: {action.reason}." for action in actions)
    changes = [
        _change_line(name, change)
        for action in actions
        for name, change in sorted(action.fields.items())
    ]
    if changes:
        lines += ["", "Changes:", *changes]
    lines += ["", *_certificate_lines(facts, certificate)]
    for action in actions:
        for related in action.related:
            lines += ["", "Now served instead:", *_certificate_lines(facts, related)]
    return "\n".join(lines)


def _change_line(name: str, change: Change) -> str:
    label = _CHANGE_NAMES.get(name, name)
    if isinstance(change.before, list) or isinstance(change.after, list):
        old = change.before if isinstance(change.before, list) else []
        new = change.after if isinstance(change.after, list) else []
        added = [item for item in new if item not in old]
        return f"- {label}: added {', '.join(added)}"
    before = "(none)" if change.before is None else str(change.before)
    return f"- {label}: {before} -> {change.after}"


def _certificate_lines(facts: _Facts, certificate: CertificateSummary) -> list[str]:
    lines = [f"Certificate {certificate.id}: {', '.join(certificate.names) or '(names unknown)'}"]
    if certificate.effective_not_after is not None:
        expiry = certificate.effective_not_after
        line = f"Effective expiry: {iso_z(expiry)}"
        if facts.policy.timezone != "UTC":
            local = expiry.astimezone(facts.policy.zone)
            line += f" ({local.strftime('%Y-%m-%d %H:%M %Z')}, {facts.policy.timezone})"
        lines.append(line)
    if certificate.fingerprints:
        lines.append(f"Fingerprints (SHA-256): {', '.join(certificate.fingerprints)}")
    if certificate.served:
        lines.append("Served by:")
        lines.extend(
            f"- {served.endpoint}"
            + (f" sha256 {served.fingerprint_sha256}" if served.fingerprint_sha256 else "")
            + (
                f" expires {iso_z(served.effective_not_after)}"
                if served.effective_not_after
                else ""
            )
            for served in certificate.served[:MAX_LISTED_ENDPOINTS]
        )
        if len(certificate.served) > MAX_LISTED_ENDPOINTS:
            lines.append(f"- and {len(certificate.served) - MAX_LISTED_ENDPOINTS} more")
    elif certificate.endpoints:
        listed = certificate.endpoints[:MAX_LISTED_ENDPOINTS]
        more = len(certificate.endpoints) - len(listed)
        lines.append(
            "Endpoints tracked: " + ", ".join(listed) + (f" and {more} more" if more else "")
        )
    return lines
