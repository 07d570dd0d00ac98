"""What the decider reports and never writes: unobserved endpoints, ambiguous and unplaceable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ticketbridge.core.explain import (
    MAX_LISTED_ENDPOINTS,
    display,
    display_summary,
)
from ticketbridge.core.index import RunFacts
from ticketbridge.core.match import Matches
from ticketbridge.core.model import (
    Observation,
    Ticket,
)
from ticketbridge.core.plan import (
    Action,
    ActionKind,
    CertificateSummary,
    UnobservedEndpoint,
)
from ticketbridge.core.policy import (
    within_horizon,
)


def unobserved_action(
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


def ambiguous_actions(facts: RunFacts, matches: Matches) -> list[Action]:
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


def unplaceable_actions(facts: RunFacts, matches: Matches) -> list[Action]:
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
