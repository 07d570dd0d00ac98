"""The decider at the edges of each window: just inside, on, and just outside (SPEC's table).

Lead times shorter than the escalation window unmask it: with the default policy (lead 21 >
escalation 14) every certificate inside the window is also past its due date, so only these
scenarios show which of the two rules raised the priority.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytest

from support.builders import inventory, markers
from support.decide_kit import (
    APP,
    NOW,
    URL,
    WILDCARD,
    W,
    at,
    change,
    day,
    evidence,
    expect,
    fp,
    iso,
    open_ticket,
    plan,
    whole,
    wildcard,
)
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import InventoryPin
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.plan import PAGED_LABEL
from ticketbridge.core.policy import Policy
from ticketbridge.core.ports import TicketEdit

TITLE = "Renew TLS certificate *.example.com (+1 name)"
LABELS = [MARKER_LABEL, marker_label(W)]
SHORT_LEAD = Policy(lead_days=7)  # shorter than the 14-day escalation window
LONG_LEAD = Policy(lead_days=35)  # longer than the escalation window


def create_fields(expiry: datetime, lead: int, priority: str | None) -> dict[str, Any]:
    fields = {
        "summary": change(None, TITLE),
        "duedate": change(None, day(expiry, lead).isoformat()),
        "labels": change(None, LABELS),
    }
    if priority is not None:
        fields["priority"] = change(None, priority)
    return fields


def create_reason(expiry: datetime, left: str) -> str:
    return (
        f"no open ticket tracks *.example.com, which expires {iso(expiry)} ({left}), "
        "within the 45-day horizon"
    )


def summary_of(result: Any) -> list[tuple[str, str | None]]:
    return [(str(a.kind), a.ticket) for a in result.actions]


# -- the horizon: create or not ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "created"),
    [
        (at(45, seconds=-1), True),  # just inside
        (at(45), True),  # on
        (at(45, seconds=1), False),  # just outside
    ],
)
def test_the_horizon_edge(expiry: datetime, created: bool) -> None:
    result = plan(wildcard(expiry), policy=SHORT_LEAD)
    assert summary_of(result) == ([("create", None)] if created else [])


def test_a_create_on_the_horizon_edge_is_filed_whole_and_not_escalated() -> None:
    expiry = at(45)
    (create,) = plan(wildcard(expiry)).actions

    assert whole(create) == expect(
        "create",
        None,
        fields=create_fields(expiry, 21, None),
        reason=create_reason(expiry, "in 45 days"),
        new_ticket=create.new_ticket,
    )
    new = create.new_ticket
    assert new is not None
    assert (new.summary, new.due_date, new.labels, new.certificate_id) == (
        TITLE,
        day(expiry, 21),
        tuple(LABELS),
        W,
    )
    assert (new.priority, new.assignee) == (None, None)
    assert new.evidence == evidence(expiry)


# -- the escalation window, unmasked by a short lead time -------------------------------------


@pytest.mark.parametrize(
    ("expiry", "escalated"),
    [
        (at(14, seconds=-1), True),  # just inside
        (at(14), True),  # on
        (at(14, seconds=1), False),  # just outside: not due yet either, so nothing urges it
    ],
)
def test_the_escalation_edge_with_a_short_lead(expiry: datetime, escalated: bool) -> None:
    actions = plan(wildcard(expiry), policy=SHORT_LEAD).actions
    priority = "Highest" if escalated else None

    assert whole(actions[0])["fields"] == create_fields(expiry, 7, priority)
    assert actions[0].new_ticket is not None and actions[0].new_ticket.priority == priority
    assert [str(a.kind) for a in actions] == (["create", "escalate"] if escalated else ["create"])


def test_a_create_inside_the_window_carries_the_window_as_its_reason() -> None:
    expiry = at(14)
    create, escalate = plan(wildcard(expiry), policy=SHORT_LEAD).actions

    assert whole(escalate) == expect(
        "escalate",
        None,
        fields={"priority": change(None, "Highest")},
        reason=(
            "*.example.com expires in 14 days, within the 14-day escalation window: "
            "priority raised to Highest; nobody is assigned"
        ),
    )
    assert create.reason == create_reason(expiry, "in 14 days")


def test_an_in_progress_ticket_inside_the_window_is_still_escalated() -> None:
    expiry = at(10)
    working = open_ticket(
        due=day(expiry, 7), status="In Progress", priority="Medium", assignee="alice"
    )

    (escalate,) = plan(wildcard(expiry), [working], SHORT_LEAD).actions

    assert whole(escalate) == expect(
        "escalate",
        "OPS-1",
        fields={"priority": change("Medium", "Highest")},
        reason=(
            "*.example.com expires in 10 days, within the 14-day escalation window: "
            "priority raised to Highest; @alice, please renew it now"
        ),
        edit=TicketEdit(priority="Highest", evidence=evidence(expiry)),
    )


def test_an_open_ticket_just_outside_the_window_and_not_due_is_left_alone() -> None:
    expiry = at(14, seconds=1)
    waiting = open_ticket(due=day(expiry, 7), priority="Medium")
    assert plan(wildcard(expiry), [waiting], SHORT_LEAD).actions == ()


def test_the_owner_is_named_when_nobody_is_assigned() -> None:
    expiry = at(14)
    pin = InventoryPin(names=WILDCARD, owner="platform")
    _, escalate = plan(wildcard(expiry), policy=SHORT_LEAD, pins=[pin]).actions
    assert escalate.reason.endswith(
        "priority raised to Highest; nobody is assigned, owner platform"
    )


# -- the due date: a long lead time escalates before the window -------------------------------


@pytest.mark.parametrize(
    ("expiry", "late"),
    [
        (at(20), True),  # due yesterday
        (at(21), False),  # due today: not late yet
        (at(22), False),
    ],
)
def test_the_due_date_edge_with_the_default_lead(expiry: datetime, late: bool) -> None:
    actions = plan(wildcard(expiry)).actions
    assert [str(a.kind) for a in actions] == (["create", "escalate"] if late else ["create"])
    if late:
        assert actions[1].reason == (
            f"the due date {day(expiry, 21)} has passed and the ticket is not in progress: "
            "priority raised to Highest; nobody is assigned"
        )


def test_a_long_lead_escalates_a_create_outside_the_window_because_it_is_already_late() -> None:
    expiry = at(30)
    create, escalate = plan(wildcard(expiry), policy=LONG_LEAD).actions
    assert whole(create)["fields"] == create_fields(expiry, 35, "Highest")
    assert escalate.reason == (
        f"the due date {day(expiry, 35)} has passed and the ticket is not in progress: "
        "priority raised to Highest; nobody is assigned"
    )


def test_a_long_lead_late_ticket_not_started_is_escalated_whole() -> None:
    expiry = at(30)
    late = open_ticket(due=day(expiry, 35), priority="Low", assignee="bob")
    (escalate,) = plan(wildcard(expiry), [late], LONG_LEAD).actions
    assert whole(escalate) == expect(
        "escalate",
        "OPS-1",
        fields={"priority": change("Low", "Highest")},
        reason=(
            f"the due date {day(expiry, 35)} has passed and the ticket is not in progress: "
            "priority raised to Highest; @bob, please renew it now"
        ),
        edit=TicketEdit(priority="Highest", evidence=evidence(expiry)),
    )


def test_a_late_ticket_in_progress_outside_the_window_is_not_escalated() -> None:
    expiry = at(30)
    working = open_ticket(due=day(expiry, 35), status="In Progress", priority="Low")
    assert plan(wildcard(expiry), [working], LONG_LEAD).actions == ()


# -- the paging window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "paged"),
    [(at(3, seconds=-1), True), (at(3), True), (at(3, seconds=1), False)],
)
def test_the_paging_edge(expiry: datetime, paged: bool) -> None:
    kinds = [str(a.kind) for a in plan(wildcard(expiry)).actions]
    assert kinds == (["create", "escalate", "page"] if paged else ["create", "escalate"])


def test_a_page_for_a_new_ticket_carries_its_whole_payload() -> None:
    expiry = at(2)
    _create, escalate, page = plan(wildcard(expiry)).actions
    assert escalate.reason == (
        "*.example.com expires in 2 days, within the 14-day escalation window: "
        "priority raised to Highest; nobody is assigned"
    )
    assert whole(page) == expect(
        "page",
        None,
        fields={"labels": change(None, [PAGED_LABEL])},
        reason="*.example.com expires in 2 days and is within the 3-day paging window: on-call is paged",
        edit=TicketEdit(add_labels=(PAGED_LABEL,)),
        page={
            "event": "trigger",
            "dedup_key": W,
            "severity": "critical",
            "summary": f"*.example.com expires {iso(expiry)} (in 2 days)",
            "certificate": {
                "id": W,
                "names": list(WILDCARD),
                "effective_not_after": iso(expiry),
                "fingerprints": [fp(expiry)],
                "endpoints": ["api.example.com:443@192.0.2.11", APP],
            },
            "ticket": None,
            "ticket_url": None,
        },
    )


def test_an_expired_certificate_is_paged_as_expired() -> None:
    expiry = at(-2, hours=-3)
    create, _, page = plan(wildcard(expiry)).actions
    assert create.reason == (
        f"no open ticket tracks *.example.com, which already expired {iso(expiry)} "
        "(expired 2 days ago)"
    )
    assert page.reason == "*.example.com expired 2 days ago: on-call is paged"
    assert page.page is not None
    assert page.page.summary == f"*.example.com expired {iso(expiry)} (2 days ago)"


def test_a_page_for_an_existing_ticket_names_it() -> None:
    expiry = at(2)
    kept = open_ticket(due=day(expiry, 21), priority="Highest")
    (page,) = plan(wildcard(expiry), [kept]).actions
    assert whole(page) == expect(
        "page",
        "OPS-1",
        fields={"labels": change(list(markers(WILDCARD)), [*markers(WILDCARD), PAGED_LABEL])},
        reason="*.example.com expires in 2 days and is within the 3-day paging window: on-call is paged",
        edit=TicketEdit(add_labels=(PAGED_LABEL,)),
        page=page.page.as_dict() if page.page else None,
    )
    assert page.page is not None
    assert (page.page.ticket, page.page.ticket_url, page.page.summary) == (
        "OPS-1",
        URL + "OPS-1",
        f"*.example.com expires {iso(expiry)} (in 2 days); renewal ticket OPS-1",
    )


def test_a_reopened_ticket_is_paged_again_although_it_carries_the_page_label() -> None:
    expiry = at(2)
    closed = open_ticket(
        due=day(expiry, 21),
        status="Done",
        priority="Highest",
        labels=(*markers(WILDCARD), PAGED_LABEL),
    )
    kinds = [(str(a.kind), a.ticket) for a in plan(wildcard(expiry), [closed]).actions]
    assert kinds == [("page", "OPS-1"), ("reopen", "OPS-1")]


def test_paging_disabled_pages_nothing_even_when_expired() -> None:
    result = plan(wildcard(at(-1)), paging=False)
    assert [str(a.kind) for a in result.actions] == ["create", "escalate"]


def test_a_certificate_expiring_this_very_second_has_already_expired() -> None:
    create, _, page = plan(wildcard(NOW)).actions
    assert create.reason == (
        f"no open ticket tracks *.example.com, which already expired {iso(NOW)} "
        "(expired 0 minutes ago)"
    )
    assert page.reason == "*.example.com expired 0 minutes ago: on-call is paged"


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "now", [datetime(2026, 11, 26), datetime(2026, 11, 26, tzinfo=_NoOffset())]
)
def test_a_naive_now_is_refused(now: datetime) -> None:
    with pytest.raises(ValueError) as refused:
        decide(inventory(), [], Policy(), now)
    assert str(refused.value) == "now must be timezone-aware"
