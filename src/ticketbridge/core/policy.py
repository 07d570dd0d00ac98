"""The renewal policy: required due dates, horizons and escalation thresholds, clock passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ticketbridge.core.model import TrackedCert
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import EXIT_USAGE, TicketbridgeError

DEFAULT_ESCALATION_PRIORITY = "Highest"


class PolicyError(TicketbridgeError, ValueError):
    """A policy value out of bounds: `field` names it, `detail` says what is wrong (exit 2).

    The shell re-raises it as a ConfigError naming the file and key; a library user who builds
    a Policy by hand gets it as it is.
    """

    exit_code = EXIT_USAGE

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"policy.{field}: {detail}")
        self.field = field
        self.detail = detail


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Policy:
    """How early a renewal is due and when it becomes urgent; the same for every ticket system."""

    lead_days: int = 21
    ticket_horizon_days: int = 45
    escalate_within_days: int = 14
    page_within_days: int = 3
    timezone: str = "UTC"
    keep_earlier_due_date: bool = False
    resolve_on_renewal: bool = True
    max_changes: int = 50
    escalation_priority: str = DEFAULT_ESCALATION_PRIORITY

    def __post_init__(self) -> None:
        for name in (
            "lead_days",
            "ticket_horizon_days",
            "escalate_within_days",
            "page_within_days",
        ):
            if getattr(self, name) < 0:
                raise PolicyError(name, "must not be negative")
        if self.max_changes < 0:
            raise PolicyError("max_changes", "must not be negative")
        # Every escalation and page needs a ticket to point at: both windows sit inside the horizon.
        if self.escalate_within_days > self.ticket_horizon_days:
            raise PolicyError("escalate_within_days", "must not exceed ticket_horizon_days")
        if self.page_within_days > self.ticket_horizon_days:
            raise PolicyError("page_within_days", "must not exceed ticket_horizon_days")
        if not self.escalation_priority.strip():
            raise PolicyError("escalation_priority", "must not be empty")
        try:
            _zone(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PolicyError("timezone", f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
    return moment


def lead_days_for(cert: TrackedCert, policy: Policy) -> int:
    """The inventory pin's lead time wins over the policy's."""
    return cert.lead_days if cert.lead_days is not None else policy.lead_days


def local_date(moment: datetime, policy: Policy) -> date:
    """The calendar date of `moment` where the people doing the renewal are."""
    return _aware(moment, "moment").astimezone(policy.zone).date()


def required_due_date(cert: TrackedCert, policy: Policy) -> date:
    """(Effective expiry in the policy's time zone).date() minus the lead time (SPEC)."""
    return local_date(cert.effective_not_after, policy) - timedelta(
        days=lead_days_for(cert, policy)
    )


def unplaceable(cert: TrackedCert, policy: Policy) -> str | None:
    """Why the certificate's expiry has no due date on the policy's calendar, or None if it has.

    RFC 5280 section 4.1.2.5 gives notAfter 99991231235959Z to a certificate with "no
    well-defined expiration date": east of UTC that instant falls in year 10000, which no
    `date` can hold, and a notAfter in year 1 minus the lead time falls before year 1.
    """
    try:
        required_due_date(cert, policy)
    except OverflowError:
        expiry = iso_z(cert.effective_not_after)
        return (
            f"effective expiry {expiry} has no date in {policy.timezone} with "
            f"{lead_days_for(cert, policy)} days' lead time (outside years 1-9999)"
        )
    return None


def time_left(expiry: datetime, now: datetime) -> timedelta:
    return _aware(expiry, "expiry") - _aware(now, "now")


def expires_within(expiry: datetime, days: int, now: datetime) -> bool:
    """True when `expiry` is at most `days` days after `now`, or already past."""
    return time_left(expiry, now) <= timedelta(days=days)


def within_horizon(cert: TrackedCert, policy: Policy, now: datetime) -> bool:
    """The certificate needs a renewal ticket: it expires within the horizon or has expired."""
    return expires_within(cert.effective_not_after, policy.ticket_horizon_days, now)


def beyond_horizon(expiry: datetime, policy: Policy, now: datetime) -> bool:
    """A certificate expiring this late counts as renewed."""
    return not expires_within(expiry, policy.ticket_horizon_days, now)


def escalation_due(cert: TrackedCert, policy: Policy, now: datetime) -> bool:
    return expires_within(cert.effective_not_after, policy.escalate_within_days, now)


def page_due(cert: TrackedCert, policy: Policy, now: datetime) -> bool:
    """Paging waits for the validated path: a served certificate only older clients build
    through (an expired cross-sign) files a ticket, but wakes nobody while the path works."""
    return expires_within(cert.validated_path_not_after, policy.page_within_days, now)


def past_due(due_date: date | None, policy: Policy, now: datetime) -> bool:
    """The due date has passed in the policy's time zone (a ticket due today is not late yet)."""
    return due_date is not None and due_date < local_date(now, policy)


def describe_time_left(expiry: datetime, now: datetime) -> str:
    """`in 9 days`, `in 5 hours`, `expired 2 days ago`: for reasons people read."""
    left = time_left(expiry, now)
    if left <= timedelta(0):
        return f"expired {_span(-left)} ago"
    return f"in {_span(left)}"


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        days = delta.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(delta.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
