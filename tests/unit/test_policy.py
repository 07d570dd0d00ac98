"""Policy: required due dates in the policy's time zone, horizons and thresholds at a given now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

import pytest

from support.builders import NOW, WILDCARD, served
from ticketbridge.core.inventory import InventoryPin, build_inventory
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.policy import (
    Policy,
    PolicyError,
    beyond_horizon,
    describe_time_left,
    escalation_due,
    page_due,
    past_due,
    required_due_date,
    unplaceable,
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


# -- boundaries the mutation run found unpinned (issue 11) ------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        # Zero is a policy, not an error: file on the expiry day, never escalate early, ...
        {"lead_days": 0},
        {"ticket_horizon_days": 0, "escalate_within_days": 0, "page_within_days": 0},
        {"escalate_within_days": 0},
        {"page_within_days": 0},
        {"max_changes": 0},
        # Both windows may reach exactly to the horizon: every escalation still has a ticket.
        {"escalate_within_days": 45, "page_within_days": 45},
        {"timezone": "Europe/Berlin"},
        {"escalation_priority": "P1"},
    ],
)
def test_boundary_policies_are_accepted(changes: dict[str, object]) -> None:
    policy = Policy(**changes)  # type: ignore[arg-type]
    for name, value in changes.items():
        assert getattr(policy, name) == value


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lead_days": -1}, "policy.lead_days: must not be negative"),
        ({"ticket_horizon_days": -1}, "policy.ticket_horizon_days: must not be negative"),
        ({"escalate_within_days": -1}, "policy.escalate_within_days: must not be negative"),
        ({"page_within_days": -1}, "policy.page_within_days: must not be negative"),
        ({"max_changes": -1}, "policy.max_changes: must not be negative"),
        (
            {"escalate_within_days": 46},
            "policy.escalate_within_days: must not exceed ticket_horizon_days",
        ),
        ({"page_within_days": 46}, "policy.page_within_days: must not exceed ticket_horizon_days"),
        (
            {"ticket_horizon_days": 13},
            "policy.escalate_within_days: must not exceed ticket_horizon_days",
        ),
        ({"escalation_priority": ""}, "policy.escalation_priority: must not be empty"),
        ({"timezone": ""}, "policy.timezone: unknown time zone ''"),
        (
            {"timezone": "Mars/Olympus_Mons"},
            "policy.timezone: unknown time zone 'Mars/Olympus_Mons'",
        ),
    ],
)
def test_each_invalid_policy_names_its_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        Policy(**changes)  # type: ignore[arg-type]
    assert str(refused.value) == message
    # app/wiring names the configuration key from these, not from the text.
    key, detail = message.removeprefix("policy.").split(": ", 1)
    assert (refused.value.field, refused.value.detail) == (key, detail)


def test_the_zone_is_the_configured_one() -> None:
    assert Policy(timezone="Asia/Tokyo").zone.key == "Asia/Tokyo"
    assert Policy().zone.key == "UTC"


def test_a_pinned_lead_time_of_zero_wins_over_the_policy() -> None:
    cert = tracked(datetime(2026, 12, 5, 21, 44, tzinfo=UTC), lead_days=0)
    assert required_due_date(cert, Policy(lead_days=21)) == date(2026, 12, 5)


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (timedelta(days=2), "in 2 days"),
        (timedelta(days=1), "in 1 day"),
        (timedelta(days=1) - timedelta(seconds=1), "in 23 hours"),
        (timedelta(hours=2), "in 2 hours"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(minutes=59, seconds=59), "in 59 minutes"),
        (timedelta(minutes=2), "in 2 minutes"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(seconds=59), "in 0 minutes"),
        (timedelta(0), "expired 0 minutes ago"),
        (-timedelta(minutes=1), "expired 1 minute ago"),
        (-timedelta(minutes=30), "expired 30 minutes ago"),
        (-timedelta(hours=1), "expired 1 hour ago"),
        (-timedelta(hours=3), "expired 3 hours ago"),
        (-timedelta(days=1), "expired 1 day ago"),
        (-timedelta(days=3, hours=5), "expired 3 days ago"),
    ],
)
def test_describe_time_left_at_every_scale(left: timedelta, text: str) -> None:
    assert describe_time_left(NOW + left, NOW) == text


@pytest.mark.parametrize(
    ("window", "left", "inside"),
    [
        # Just inside, on, and just outside each window of the default policy.
        ("horizon", timedelta(days=45) - timedelta(seconds=1), True),
        ("horizon", timedelta(days=45), True),
        ("horizon", timedelta(days=45) + timedelta(seconds=1), False),
        ("escalate", timedelta(days=14) - timedelta(seconds=1), True),
        ("escalate", timedelta(days=14), True),
        ("escalate", timedelta(days=14) + timedelta(seconds=1), False),
        ("page", timedelta(days=3) - timedelta(seconds=1), True),
        ("page", timedelta(days=3), True),
        ("page", timedelta(days=3) + timedelta(seconds=1), False),
        ("page", -timedelta(days=400), True),
    ],
)
def test_each_window_just_inside_on_and_just_outside(
    window: str, left: timedelta, inside: bool
) -> None:
    cert, policy = tracked(NOW + left), Policy()
    check = {"horizon": within_horizon, "escalate": escalation_due, "page": page_due}[window]
    assert check(cert, policy, NOW) is inside


def test_a_ticket_due_today_is_not_late_and_one_due_yesterday_is() -> None:
    today = NOW.date()
    assert not past_due(today, Policy(), NOW)
    assert past_due(today - timedelta(days=1), Policy(), NOW)
    assert not past_due(today + timedelta(days=1), Policy(), NOW)


@pytest.mark.parametrize(
    ("expiry", "now", "message"),
    [
        (datetime(2026, 12, 5), NOW, "expiry must be timezone-aware, got 2026-12-05T00:00:00"),
        (NOW, datetime(2026, 11, 26), "now must be timezone-aware, got 2026-11-26T00:00:00"),
    ],
)
def test_naive_moments_are_refused_by_name(expiry: datetime, now: datetime, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        describe_time_left(expiry, now)
    assert str(refused.value) == message


def test_a_naive_expiry_has_no_local_date() -> None:
    with pytest.raises(ValueError) as refused:
        past_due(date(2026, 11, 1), Policy(), datetime(2026, 11, 26))
    assert str(refused.value) == "moment must be timezone-aware, got 2026-11-26T00:00:00"


class _NoOffset(tzinfo):
    """A time zone that knows no offset: Python counts such a datetime as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_a_moment_whose_zone_has_no_offset_is_refused_as_naive() -> None:
    # Python's data model: aware means tzinfo is set *and* utcoffset() is not None.
    shapeless = datetime(2026, 12, 5, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="expiry must be timezone-aware"):
        describe_time_left(shapeless, NOW)


def test_an_unplaceable_expiry_is_explained_in_the_spec_timestamp_format() -> None:
    # RFC 5280 4.1.2.5: 99991231235959Z means "no well-defined expiration date"; in Tokyo that
    # instant is already year 10000, which no calendar date holds.
    cert = tracked(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert unplaceable(cert, Policy(timezone="Asia/Tokyo")) == (
        "effective expiry 9999-12-31T23:59:59Z has no date in Asia/Tokyo with 21 days' lead "
        "time (outside years 1-9999)"
    )
    assert unplaceable(cert, Policy()) is None
