"""Worlds with certificates of any size and any name text: what the evidence bounds are tested on.

A publicly issued certificate can carry 10,000 SANs, a private one any bytes its maker typed
(newlines, terminal escapes, Unicode line separators, Jira markup); a fleet can serve one
certificate on thousands of endpoints. These strategies draw all of that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from ticketbridge.core.model import (
    MARKER_LABEL,
    CertFacts,
    Endpoint,
    Observation,
    Ticket,
    marker_label,
)
from ticketbridge.core.policy import Policy
from ticketbridge.core.x509facts import canonical_names, tracked_id

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
HOSTILE = (
    "line1\nline2.test",
    "crlf\r\n- forged evidence line",
    "\x1b[31mred\x1b[0m.test",
    "sep\u2028arator.test",
    "{noformat}",
    "{noformat}{noformat}{noformat}",
    "*.wild.test",
    "x" * 1000,
    "üñïçødé.test",
    "tab\there.test",
    "",
    " ",
)
_names = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){1,3}", fullmatch=True),
)


@dataclass(frozen=True)
class BigWorld:
    observations: list[Observation]
    tickets: list[Ticket]
    policy: Policy


def leaf_facts(names: tuple[str, ...], not_after: datetime) -> CertFacts:
    digest = hashlib.sha256(repr((names, not_after)).encode()).hexdigest()
    return CertFacts(
        fingerprint_sha256=digest,
        serial="1",
        subject=f"CN={names[0] if names else 'x'}",
        issuer="CN=Test CA",
        names=names,
        not_before=not_after - timedelta(days=90),
        not_after=not_after,
        common_name=names[0] if names else None,
    )


def observation(host: str, address: str, names: tuple[str, ...], expiry: datetime) -> Observation:
    leaf = leaf_facts(names, expiry)
    endpoint = Endpoint(host=host, port=443, address=address, sni=host)
    return Observation(
        endpoint=endpoint,
        observed_at=NOW,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=expiry,
    )


@st.composite
def certificate_names(draw: st.DrawFn) -> tuple[str, ...]:
    drawn = draw(st.lists(_names, min_size=1, max_size=6))
    many = draw(st.sampled_from((0, 0, 3, 1_200, 10_000)))
    return tuple(drawn) + tuple(f"n{index}.many.test" for index in range(many))


@st.composite
def big_worlds(draw: st.DrawFn) -> BigWorld:
    observations: list[Observation] = []
    tickets: list[Ticket] = []
    for number in range(draw(st.integers(1, 2))):
        names = draw(certificate_names())
        # 10,000 names on 2,000 endpoints would only test our patience, not the bounds.
        endpoints = draw(st.sampled_from((1, 3, 60) if len(names) > 1_000 else (1, 3, 60, 1_500)))
        host_text = draw(st.sampled_from(("app.example.com", "evil\n- host.test", "h" * 300)))
        days = draw(st.sampled_from((-2373, -1, 1, 2, 10, 30)))
        renewed = draw(st.booleans())  # some endpoints already serve a later copy
        for index in range(endpoints):
            expiry = NOW + timedelta(days=days, hours=3)
            if renewed and index % 2:
                expiry += timedelta(days=index % 7 + 1)  # several different later copies
            host = f"{index}.{number}.{host_text}"
            observations.append(observation(host, f"192.0.2.{index % 250}", names, expiry))
        if draw(st.booleans()):
            cert_id = tracked_id(canonical_names(leaf_facts(names, NOW)))
            tickets.append(
                Ticket(
                    key=f"TB-{number + 1}",
                    summary="Renew a certificate",
                    status="To Do",
                    status_category="new",
                    created=NOW - timedelta(days=30),
                    due_date=date(2027, 6, 1),
                    labels=(MARKER_LABEL, marker_label(cert_id)),
                    priority=None,
                    assignee=None,
                    resolved_at=None,
                    tracked_endpoints=(),
                )
            )
    return BigWorld(observations, tickets, Policy())
