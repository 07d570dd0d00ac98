"""Which open tickets are about which tracked certificate: marker, adoption by name, ambiguity."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ticketbridge.core.index import RunFacts
from ticketbridge.core.model import (
    Ticket,
)
from ticketbridge.core.plan import (
    DUPLICATE_LABEL,
    natural_key,
)

# Whole names in a summary: DNS labels, dots and a literal `*`; anything else separates them.
_NAME_TOKEN = re.compile(r"[\w*.-]+")


@dataclass(slots=True)
class Matches:
    open_markers: dict[str, list[Ticket]] = field(default_factory=dict)
    closed_markers: dict[str, list[Ticket]] = field(default_factory=dict)
    # open unmarked tickets whose summary names exactly one tracked certificate: id -> (ticket, name)
    adoptable: dict[str, list[tuple[Ticket, str]]] = field(default_factory=dict)
    # tickets naming several certificates (by markers or by summary): never written
    ambiguous: list[tuple[Ticket, tuple[str, ...], bool]] = field(default_factory=list)


def oldest_first(ticket: Ticket) -> tuple[Any, ...]:
    return (ticket.created, natural_key(ticket.key))


def match_tickets(facts: RunFacts, tickets: Iterable[Ticket]) -> Matches:
    # One ticket per key whatever order or repetition the backend returned them in.
    unique = {
        ticket.key: ticket
        for ticket in sorted(
            tickets, key=lambda t: (natural_key(t.key), t.created, t.status, t.summary)
        )
    }
    matches = Matches()
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
        named = named_certificates(facts, ticket.summary)
        if len(named) == 1:
            ((cert_id, name),) = named.items()
            adoptable[cert_id].append((ticket, name))
        elif named:
            matches.ambiguous.append((ticket, tuple(sorted(named)), False))
    matches.open_markers = {k: sorted(v, key=oldest_first) for k, v in open_markers.items()}
    matches.closed_markers = {k: sorted(v, key=oldest_first) for k, v in closed_markers.items()}
    matches.adoptable = {
        k: sorted(v, key=lambda pair: oldest_first(pair[0])) for k, v in adoptable.items()
    }
    return matches


def named_certificates(facts: RunFacts, summary: str) -> dict[str, str]:
    """Tracked certificates a summary names, whole names only: id -> the name it used."""
    named: dict[str, str] = {}
    for token in _NAME_TOKEN.findall(summary.lower()):
        name = token.strip(".")
        if "." not in name:
            continue
        for cert_id in facts.by_name.get(name, set()) | facts.by_host.get(name, set()):
            named.setdefault(cert_id, name)
    return named
