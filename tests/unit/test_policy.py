"""Policy: required due dates in the policy's time zone, horizons and thresholds at a given now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from support.builders import NOW, WILDCARD, served
from ticketbridge.core.inventory import InventoryPin, build_inventory
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.policy import (
    Policy,
    beyond_horizon,
    describe_time_left,
    escalation_due,
    page_due,
    past_due,
    required_due_date,
    within_horizon,
)


def tracked(expiry: datetime, lead_days: int | None = None) -> TrackedCert:
    pins = [InventoryPin(names=WILDCARD, lead_days=lead_days)] if lead_days is not None else []
    observation = served("app.example.com", "192.0.2.10", WILDCARD, expiry)
    (cert,) = build_inventory([observation], pins).certificates
    return cert


def test_defaults_match_spec() -> None:
    policy = Policy()
    assert (policy.lead_days, policy.ticket_horizon_days) == (21, 45)
    assert (policy.escalate_within_days, policy.page_within_days) == (14, 3)
    assert policy.timezone == "UTC"
    assert not policy.keep_earlier_due_date
    assert policy.resolve_on_renewal
    assert policy.max_changes == 50
    assert policy.escalation_priority == "Highest"


@pytest.mark.parametrize(
    ("expiry", "timezone", "due"),
    [
        pytest.param(datetime(2026, 12, 5, 21, 44, 22, tzinfo=UTC), "UTC", date(2026, 11, 14)),
        # 01:30 UTC on the 5th is still the evening of the 4th on the US west coast.
        pytest.param(datetime(2026, 12, 5, 1, 30, tzinfo=UTC), "UTC", date(2026, 11, 14)),
        pytest.param(
            datetime(2026, 12, 5, 1, 30, tzinfo=UTC), "America/Los_Angeles", date(2026, 11, 13)
        ),
        # ... and already the 6th in Tokyo for a late-evening UTC expiry.
        pytest.param(datetime(2026, 12, 5, 21, 44, tzinfo=UTC), "Asia/Tokyo", date(2026, 11, 15)),
    ],
)
def test_required_due_date_is_the_local_expiry_date_minus_lead(
    expiry: datetime, timezone: str, due: date
) -> None:
    assert required_due_date(tracked(expiry), Policy(timezone=timezone)) == due


def test_the_inventory_pins_lead_time_wins() -> None:
    cert = tracked(datetime(2026, 12, 5, 21, 44, tzinfo=UTC), lead_days=30)
    assert required_due_date(cert, Policy(lead_days=21)) == date(2026, 11, 5)


@pytest.mark.parametrize(
    ("left", "horizon", "escalate", "page"),
    [
        (timedelta(days=60), False, False, False),
        (timedelta(days=45), True, False, False),  # exactly at the horizon: inside
        (timedelta(days=45, seconds=1), False, False, False),
        (timedelta(days=14), True, True, False),
        (timedelta(days=3), True, True, True),
        (timedelta(hours=1), True, True, True),
        (-timedelta(days=2), True, True, True),  # already expired
    ],
)
def test_windows(left: timedelta, horizon: bool, escalate: bool, page: bool) -> None:
    cert, policy = tracked(NOW + left), Policy()
    assert within_horizon(cert, policy, NOW) is horizon
    assert beyond_horizon(cert.effective_not_after, policy, NOW) is not horizon
    assert escalation_due(cert, policy, NOW) is escalate
    assert page_due(cert, policy, NOW) is page


def test_past_due_counts_days_in_the_policy_zone() -> None:
    late_evening_utc = datetime(2026, 11, 15, 3, 0, tzinfo=UTC)  # still the 14th in LA
    assert past_due(date(2026, 11, 14), Policy(), late_evening_utc)
    assert not past_due(
        date(2026, 11, 14), Policy(timezone="America/Los_Angeles"), late_evening_utc
    )
    assert not past_due(None, Policy(), late_evening_utc)


def test_describe_time_left() -> None:
    assert describe_time_left(NOW + timedelta(days=9, hours=3), NOW) == "in 9 days"
    assert describe_time_left(NOW + timedelta(hours=5), NOW) == "in 5 hours"
    assert describe_time_left(NOW - timedelta(days=1), NOW) == "expired 1 day ago"


@pytest.mark.parametrize(
    "changes",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"lead_days": -1},
        {"page_within_days": 60},
        {"escalate_within_days": 46},
        {"escalation_priority": " "},
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="policy"):
        Policy(**changes)  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        within_horizon(tracked(NOW), Policy(), datetime(2026, 11, 26))
