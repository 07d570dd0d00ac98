"""The executor against the in-memory fakes: outcomes on tickets and pages, not calls made."""

from __future__ import annotations

import json
from datetime import date, timedelta

from support.builders import (
    NOW,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    cert_id,
    failed,
    fingerprint,
    incident,
    inventory,
    markers,
    served,
    ticket,
)
from ticketbridge.core import decide as decider
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.plan import DUPLICATE_LABEL, PAGED_LABEL, Plan
from ticketbridge.core.policy import Policy
from ticketbridge.errors import PermanentBackendError
from ticketbridge.testing import InMemoryPager, InMemoryTicketSystem

W = cert_id(WILDCARD)
SOON = NOW + timedelta(days=30)
EXPIRED = NOW - timedelta(hours=3)
RENEWED = NOW + timedelta(days=300)


def store(*tickets: object) -> InMemoryTicketSystem:
    return InMemoryTicketSystem(tickets, clock=lambda: NOW)  # type: ignore[arg-type]


def decide(facts: Inventory, system: InMemoryTicketSystem, policy: Policy | None = None) -> Plan:
    return decider.decide(facts, system.open_tickets(), policy or Policy(), NOW)


def two_certificates(expiry: object = SOON) -> Inventory:
    return inventory(
        served("app.example.com", "192.0.2.10", WILDCARD, expiry),  # type: ignore[arg-type]
        served("www.example.com", "192.0.2.20", WWW, expiry),  # type: ignore[arg-type]
    )


def test_the_incident_is_corrected_with_one_edit_and_one_comment_then_nothing() -> None:
    system = store(ticket("OPS-12", "Renew *.example.com", due=date(2027, 9, 1), assignee="alice"))

    report = apply_plan(decide(incident(), system), system)

    assert report.ok and report.applied == 2
    corrected = system.get("OPS-12")
    assert corrected.due_date == date(2026, 11, 14)
    assert set(corrected.labels) == {MARKER_LABEL, marker_label(W)}
    assert corrected.priority == "Highest"
    assert [write.operation for write in system.writes] == ["edit"]
    (comment,) = system.comments("OPS-12")
    assert fingerprint(WILDCARD, WILDCARD_EXPIRY) in comment.body
    assert "Effective expiry: 2026-12-05T21:44:22Z" in comment.body
    assert "- app.example.com:443@192.0.2.10 sha256" in comment.body
    assert "due date: 2027-09-01 -> 2026-11-14" in comment.body
    assert "@alice" in comment.body
    assert decide(incident(), system).writes == 0


def test_create_escalate_and_page_happen_in_one_run_then_nothing() -> None:
    system, pager = store(), InMemoryPager()
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, EXPIRED))

    report = apply_plan(decide(facts, system), system, pager)

    assert report.ok
    (created,) = system.find_by_marker(W)
    assert created.priority == "Highest"
    assert PAGED_LABEL in created.labels
    assert created.tracked_endpoints == ("app.example.com:443@192.0.2.10",)
    (event,) = pager.events
    assert (event.event, event.dedup_key, event.ticket) == ("trigger", W, created.key)
    assert event.summary.endswith(f"renewal ticket {created.key}")
    assert decide(facts, system).writes == 0


def test_a_failed_write_is_reported_and_the_rest_carry_on() -> None:
    system = store()
    system.fail_on_write(1, PermanentBackendError("field duedate is not on the screen"))
    facts = two_certificates()

    report = apply_plan(decide(facts, system), system)

    assert not report.ok
    (failure,) = report.failures
    assert failure.applied is False
    assert "field duedate is not on the screen" in (failure.error or "")
    assert len(system.all_tickets()) == 1
    document = json.loads(report.to_json())
    assert sorted(action["applied"] for action in document["actions"]) == [False, True]
    # The next run converges: only the failed create is planned again.
    again = decide(facts, system)
    assert [str(action.kind) for action in again.actions] == ["create"]
    assert apply_plan(again, system).ok
    assert decide(facts, system).writes == 0


def test_a_create_whose_answer_was_lost_never_duplicates_the_ticket() -> None:
    system = store()
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, SOON))
    stale_plan = decide(facts, system)
    system.fail_on_write(1, after_write=True)  # created, but the response never arrived

    first = apply_plan(stale_plan, system)
    second = apply_plan(stale_plan, system)  # a retry of the same plan after the crash

    assert not first.ok and second.ok
    (only,) = system.find_by_marker(W)
    assert [write.operation for write in system.writes] == ["create", "edit"]
    assert second.results[0].ticket == only.key
    assert "edited instead of created" in (second.results[0].note or "")


def test_a_failed_page_is_paged_again_next_run() -> None:
    system, pager = store(), InMemoryPager()
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, EXPIRED))
    pager.fail_next()

    report = apply_plan(decide(facts, system), system, pager)

    assert [(str(r.action.kind), r.applied) for r in report.results] == [
        ("create", True),
        ("escalate", True),
        ("page", False),
    ]
    (created,) = system.find_by_marker(W)
    assert PAGED_LABEL not in created.labels
    retry = decide(facts, system)
    assert [str(action.kind) for action in retry.actions] == ["page"]
    assert apply_plan(retry, system, pager).ok
    assert W in pager.active
    assert decide(facts, system).writes == 0


def test_resolve_closes_the_ticket_and_the_page() -> None:
    system, pager = store(), InMemoryPager()
    expiring = inventory(served("app.example.com", "192.0.2.10", WILDCARD, EXPIRED))
    apply_plan(decide(expiring, system), system, pager)
    renewed = inventory(served("app.example.com", "192.0.2.10", WILDCARD, RENEWED))

    report = apply_plan(decide(renewed, system), system, pager)

    assert report.ok
    (closed,) = system.find_by_marker(W)
    assert not closed.is_open
    assert pager.active == {}
    assert [event.event for event in pager.events] == ["trigger", "resolve"]
    assert fingerprint(WILDCARD, RENEWED) in system.comments(closed.key)[-1].body
    assert decide(renewed, system).writes == 0


def test_reopen_and_correct_in_one_run() -> None:
    system = store(
        ticket(
            "OPS-1",
            "Renew *.example.com",
            due=SOON.date() - timedelta(days=21) + timedelta(days=3),
            labels=markers(WILDCARD),
            status="Done",
        )
    )
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, SOON))

    report = apply_plan(decide(facts, system), system)

    assert report.ok
    reopened = system.get("OPS-1")
    assert reopened.is_open
    assert reopened.due_date == SOON.date() - timedelta(days=21)
    assert decide(facts, system).writes == 0


def test_duplicates_are_flagged_once_with_a_link() -> None:
    system = store(
        ticket("OPS-1", "Renew *.example.com", labels=markers(WILDCARD), due=date(2026, 12, 5)),
        ticket("OPS-2", "Renew *.example.com", labels=markers(WILDCARD), created=NOW),
    )
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, SOON))

    apply_plan(decide(facts, system), system)

    assert DUPLICATE_LABEL in system.get("OPS-2").labels
    assert "OPS-1" in system.comments("OPS-2")[-1].body
    assert decide(facts, system).writes == 0


def test_report_only_actions_write_nothing() -> None:
    system = store(ticket("OPS-1", "Renew", labels=markers(WILDCARD), tracked=("x:443@1",)))
    facts = inventory(
        served("app.example.com", "192.0.2.10", WILDCARD, RENEWED),
        failed("app.example.com", "192.0.2.11"),
    )

    report = apply_plan(decide(facts, system), system)

    assert [(str(r.action.kind), r.applied, r.error) for r in report.results] == [
        ("unobserved", False, None)
    ]
    assert system.writes == []
