"""Expiries the calendar cannot hold (RFC 5280's 99991231235959Z east of UTC, year 1): one
finding for that certificate, its ticket untouched, every other certificate planned."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.builders import (
    NOW,
    WILDCARD,
    WILDCARD_EXPIRY,
    inventory,
    markers,
    served,
    ticket,
)
from ticketbridge.core.decide import decide
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import ActionKind
from ticketbridge.core.policy import Policy

NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # RFC 5280 section 4.1.2.5
YEAR_ONE = datetime(1, 1, 1, 12, 0, tzinfo=UTC)


def _serving(host: str, not_after: datetime) -> Observation:
    """`served`, with a notAfter the builder's own date arithmetic cannot reach."""
    observation = served(host, "192.0.2.40", (host,), datetime(2030, 1, 1, tzinfo=UTC))
    assert observation.certificate is not None
    leaf = replace(
        observation.certificate, not_before=datetime(1, 1, 1, tzinfo=UTC), not_after=not_after
    )
    return replace(observation, certificate=leaf, chain=(leaf,), effective_not_after=not_after)


@pytest.mark.parametrize(
    ("zone", "not_after"),
    [
        ("Europe/Berlin", NO_EXPIRY),
        ("Asia/Tokyo", NO_EXPIRY),
        ("UTC", YEAR_ONE),
        ("America/New_York", YEAR_ONE),
        ("Europe/Berlin", YEAR_ONE),
    ],
)
def test_an_unplaceable_expiry_is_a_finding_and_the_rest_is_planned(
    zone: str, not_after: datetime
) -> None:
    facts = inventory(
        _serving("odd.example.com", not_after),
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
    )
    odd_ticket = ticket("OPS-7", "Renew odd.example.com", labels=markers(("odd.example.com",)))

    plan = decide(facts, [odd_ticket], Policy(timezone=zone), NOW)

    by_kind = {(action.kind, action.certificate.names) for action in plan.actions}
    assert (ActionKind.UNPLACEABLE, ("odd.example.com",)) in by_kind
    assert (ActionKind.CREATE, WILDCARD) in by_kind
    # Nothing is written about the certificate that could not be placed: not even a resolve.
    odd_writes = [
        a for a in plan.actions if a.writes and a.certificate.names == ("odd.example.com",)
    ]
    assert odd_writes == []
    finding = next(a for a in plan.actions if a.kind is ActionKind.UNPLACEABLE)
    assert finding.ticket == "OPS-7"
    assert zone in finding.reason and "OPS-7 left as is" in finding.reason


def test_no_expiry_in_utc_is_placeable_and_simply_beyond_the_horizon() -> None:
    plan = decide(inventory(_serving("odd.example.com", NO_EXPIRY)), [], Policy(), NOW)
    assert plan.actions == ()


# Zones at the calendar's edges: the furthest east (UTC+14) and west (UTC-11) there are.
ZONES = ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Anywhere, and (where the trouble is) within weeks of either end of the calendar.
    not_after=st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 3, 1)),
        st.datetimes(min_value=datetime(9999, 12, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    ).map(lambda moment: moment.replace(tzinfo=UTC)),
    zone=st.sampled_from(ZONES),
    lead_days=st.integers(min_value=0, max_value=3650),
)
def test_no_expiry_between_year_1_and_9999_crashes_the_planner(
    not_after: datetime, zone: str, lead_days: int
) -> None:
    facts = inventory(
        _serving("odd.example.com", not_after),
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
    )
    odd_ticket = ticket("OPS-7", "Renew odd.example.com", labels=markers(("odd.example.com",)))
    policy = Policy(timezone=zone, lead_days=lead_days)

    plan = decide(facts, [odd_ticket], policy, NOW)

    plan.to_json()  # every finding is printable, whatever its dates
    assert (ActionKind.CREATE, WILDCARD) in {(a.kind, a.certificate.names) for a in plan.actions}
    unplaceable = [a for a in plan.actions if a.kind is ActionKind.UNPLACEABLE]
    odd_writes = [a for a in plan.actions if a.writes and "odd.example.com" in a.certificate.names]
    # Either the certificate is planned as usual, or it is one finding and nothing is written.
    assert not unplaceable or (len(unplaceable) == 1 and odd_writes == [])
