"""The executor on hand-built plans, against the in-memory fakes: what each failure leaves on the
ticket and in the report, how several edits of one ticket merge, and what a create that finds
its ticket already filed writes instead."""

from __future__ import annotations

from datetime import date

import pytest

from support.builders import NOW, ticket
from ticketbridge.core.apply import ActionResult, apply_plan
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.plan import (
    PAGED_LABEL,
    Action,
    ActionKind,
    CertificateSummary,
    PageEvent,
    Plan,
)
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import PermanentBackendError, WriteOutcomeUnknown
from ticketbridge.testing import InMemoryPager, InMemoryTicketSystem

CERT_ID = "0123456789abcdef"
CERT = CertificateSummary(id=CERT_ID, names=("www.example.com",))
DUE = date(2026, 12, 1)


def store(*tickets: object) -> InMemoryTicketSystem:
    return InMemoryTicketSystem(tickets, clock=lambda: NOW)  # type: ignore[arg-type]


def act(kind: ActionKind, key: str | None, **extra: object) -> Action:
    return Action(kind, key, CERT, f"{kind} reason", **extra)  # type: ignore[arg-type]


def outcome(results: list[ActionResult]) -> list[tuple[str, bool, str | None, str | None]]:
    return [(str(r.action.kind), r.applied, r.error, r.ticket) for r in results]


def test_a_failed_reopen_stops_the_rest_of_that_ticket_and_says_why_once_each() -> None:
    system = store(ticket("OPS-1", status="Done", due=DUE))
    system.fail_on_write(1, PermanentBackendError("workflow refuses"))
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.REOPEN, "OPS-1"),
            act(ActionKind.UPDATE, "OPS-1", edit=TicketEdit(due_date=date(2026, 11, 20))),
        ],
    )
    seen: list[ActionResult] = []
    report = apply_plan(plan, system, on_result=seen.append)
    assert outcome(seen) == [
        ("reopen", False, "reopen failed: workflow refuses", "OPS-1"),
        ("update", False, "not attempted: reopen of OPS-1 failed", "OPS-1"),
    ]
    # the report lists them in plan order (updates before reopens), each once
    assert list(report.results) == [seen[1], seen[0]]
    after = system.get("OPS-1")
    assert (after.is_open, after.due_date) == (False, DUE)
    assert len(system.writes) == 1
    assert [r.outcome_unknown for r in seen] == [False, False]


def paged_resolve(paged: bool) -> Action:
    page = PageEvent("resolve", f"tb-{CERT_ID}", "renewed", CERT, ticket="OPS-1")
    return act(ActionKind.RESOLVE, "OPS-1", page=page, paged=paged)


def test_a_resolve_whose_page_cannot_be_resolved_leaves_the_ticket_open() -> None:
    system, pager = store(ticket("OPS-1")), InMemoryPager()
    pager.fail_next()
    report = apply_plan(Plan.of(NOW, [paged_resolve(True)]), system, pager)
    assert outcome(list(report.results)) == [
        (
            "resolve",
            False,
            f"resolving the page failed: injected pager failure for tb-{CERT_ID}",
            "OPS-1",
        )
    ]
    assert system.get("OPS-1").is_open and system.writes == []
    assert report.results[0].outcome_unknown is False


def test_a_resolve_resolves_the_page_only_of_a_paged_ticket() -> None:
    system, pager = store(ticket("OPS-1"), ticket("OPS-2")), InMemoryPager()
    apply_plan(Plan.of(NOW, [paged_resolve(False)]), system, pager)
    assert pager.events == [] and not system.get("OPS-1").is_open
    apply_plan(Plan.of(NOW, [paged_resolve(True)]), store(ticket("OPS-1")), pager)
    assert [event.event for event in pager.events] == ["resolve"]


def test_a_failed_resolve_transition_is_reported_on_its_ticket() -> None:
    system = store(ticket("OPS-1"))
    system.fail_on_write(1, PermanentBackendError("no transition to Done"))
    report = apply_plan(Plan.of(NOW, [act(ActionKind.RESOLVE, "OPS-1")]), system)
    assert outcome(list(report.results)) == [
        ("resolve", False, "done failed: no transition to Done", "OPS-1")
    ]


def test_a_create_that_finds_its_ticket_filed_writes_everything_as_an_edit() -> None:
    filed = ticket("OPS-7", labels=(MARKER_LABEL, marker_label(CERT_ID)), due=date(2027, 3, 1))
    system = store(filed)
    new = NewTicket(
        summary="Renew TLS certificate www.example.com",
        description="…",
        due_date=DUE,
        labels=(MARKER_LABEL, marker_label(CERT_ID), "team-web"),
        certificate_id=CERT_ID,
        priority="High",
        assignee="alice",
        evidence={"endpoints": ["www.example.com:443@192.0.2.1"]},
    )
    report = apply_plan(Plan.of(NOW, [act(ActionKind.CREATE, None, new_ticket=new)]), system)
    (result,) = report.results
    assert (result.applied, result.ticket) == (True, "OPS-7")
    assert result.note == "OPS-7 already carried the marker: edited instead of created"
    after = system.get("OPS-7")
    assert after.due_date == DUE
    assert after.labels == (MARKER_LABEL, marker_label(CERT_ID), "team-web")
    assert (after.priority, after.assignee) == ("High", "alice")
    assert after.tracked_endpoints == ("www.example.com:443@192.0.2.1",)
    assert [w.operation for w in system.writes] == ["edit"]


def test_edits_of_one_ticket_merge_later_values_winning_and_labels_accumulating() -> None:
    system = store(ticket("OPS-1", due=DUE))
    plan = Plan.of(
        NOW,
        [
            act(
                ActionKind.UPDATE,
                "OPS-1",
                edit=TicketEdit(
                    due_date=date(2026, 11, 20),
                    add_labels=("a",),
                    priority="High",
                    assignee="alice",
                    evidence={"endpoints": ["x:443"]},
                ),
            ),
            act(
                ActionKind.ESCALATE, "OPS-1", edit=TicketEdit(add_labels=("b", "a"), assignee="bob")
            ),
            act(ActionKind.DUPLICATE, "OPS-1", edit=TicketEdit(add_labels=("c",))),
        ],
    )
    report = apply_plan(plan, system)
    assert report.ok and report.applied == 3
    after = system.get("OPS-1")
    assert (after.due_date, after.labels) == (date(2026, 11, 20), ("a", "b", "c"))
    assert (after.priority, after.assignee, after.tracked_endpoints) == ("High", "bob", ("x:443",))
    assert [w.operation for w in system.writes] == ["edit"]


def test_a_hand_built_plan_still_says_why_in_its_comment() -> None:
    system = store(ticket("OPS-1", due=DUE))
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.UPDATE, "OPS-1", edit=TicketEdit(due_date=date(2026, 11, 20))),
            act(ActionKind.ESCALATE, "OPS-1", edit=TicketEdit(priority="High")),
        ],
    )
    apply_plan(plan, system)
    (comment,) = system.comments("OPS-1")
    assert comment.body == (
        "ticketbridge update: update reason.\nticketbridge escalate: escalate reason."
    )


def new_ticket() -> NewTicket:
    return NewTicket(
        summary="Renew TLS certificate www.example.com",
        description="…",
        due_date=DUE,
        labels=(MARKER_LABEL, marker_label(CERT_ID)),
        certificate_id=CERT_ID,
    )


def test_a_create_without_a_ticket_to_create_fails_its_whole_group() -> None:
    system, pager = store(), InMemoryPager()
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.CREATE, None),
            act(ActionKind.ESCALATE, None),
            act(ActionKind.PAGE, None, page=trigger()),
        ],
    )
    report = apply_plan(plan, system, pager)
    error = "create action without a ticket to create"
    assert outcome(list(report.results)) == [
        ("create", False, error, None),
        ("escalate", False, error, None),
        ("page", False, error, None),
    ]
    assert system.writes == [] and pager.events == []


def test_a_create_edits_the_oldest_open_ticket_carrying_only_its_marker() -> None:
    mine = (MARKER_LABEL, marker_label(CERT_ID))
    older = NOW.replace(year=2025)
    system = store(
        ticket("OPS-3", labels=mine, status="Done", created=older.replace(month=1)),
        ticket("OPS-4", labels=(*mine, marker_label("fedcba9876543210")), created=older),
        ticket("OPS-10", labels=mine, created=older.replace(month=6)),
        ticket("OPS-9", labels=mine, created=older.replace(month=6)),
        ticket("OPS-2", labels=mine, created=NOW),
    )
    plan = Plan.of(
        NOW, [act(ActionKind.CREATE, None, new_ticket=new_ticket()), act(ActionKind.ESCALATE, None)]
    )
    report = apply_plan(plan, system)
    assert outcome(list(report.results)) == [
        ("create", True, None, "OPS-9"),
        ("escalate", True, None, "OPS-9"),
    ]
    assert [r.note for r in report.results] == [
        "OPS-9 already carried the marker: edited instead of created",
        None,
    ]
    assert [(w.operation, w.key) for w in system.writes] == [("edit", "OPS-9")]


def test_a_create_that_may_have_landed_is_marked_so_and_one_refused_is_not() -> None:
    for error, unknown in [
        (WriteOutcomeUnknown("answer lost"), True),
        (PermanentBackendError("refused"), False),
    ]:
        system, pager = store(), InMemoryPager()
        system.fail_on_write(1, error)
        plan = Plan.of(
            NOW,
            [
                act(ActionKind.CREATE, None, new_ticket=new_ticket()),
                act(ActionKind.ESCALATE, None),
                act(ActionKind.PAGE, None, page=trigger()),
            ],
        )
        results = apply_plan(plan, system, pager).results
        assert [(r.error, r.outcome_unknown) for r in results] == [
            (f"create failed: {error}", unknown)
        ] * 3
        assert pager.events == []


def trigger() -> PageEvent:
    return PageEvent("trigger", f"tb-{CERT_ID}", "www.example.com expires in 2 days", CERT)


def test_a_page_with_a_create_names_the_new_ticket_and_records_the_page() -> None:
    system, pager = store(), InMemoryPager()
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.CREATE, None, new_ticket=new_ticket(), comment="evidence"),
            act(ActionKind.PAGE, None, page=trigger()),
        ],
    )
    report = apply_plan(plan, system, pager)
    assert outcome(list(report.results)) == [
        ("create", True, None, "TB-1"),
        ("page", True, None, "TB-1"),
    ]
    (event,) = pager.events
    assert (event.ticket, event.summary) == (
        "TB-1",
        "www.example.com expires in 2 days; renewal ticket TB-1",
    )
    assert PAGED_LABEL in system.get("TB-1").labels
    assert [c.body for c in system.comments("TB-1")] == [
        "evidence",
        f"ticketbridge paged on-call (dedup key tb-{CERT_ID}): www.example.com expires in 2 days",
    ]


def test_a_failed_page_is_noted_in_the_tickets_comment_and_leaves_no_paged_label() -> None:
    system, pager = store(ticket("OPS-1", due=DUE)), InMemoryPager()
    pager.fail_next()
    url = "https://jira.example/browse/OPS-1"
    plan = Plan.of(
        NOW,
        [
            act(
                ActionKind.UPDATE,
                "OPS-1",
                edit=TicketEdit(due_date=date(2026, 11, 20)),
                comment="evidence",
                ticket_url=url,
            ),
            act(ActionKind.PAGE, "OPS-1", page=trigger(), comment="evidence", ticket_url=url),
        ],
    )
    report = apply_plan(plan, system, pager)
    failure = f"injected pager failure for tb-{CERT_ID}"
    assert outcome(list(report.results)) == [
        ("update", True, None, "OPS-1"),
        ("page", False, f"page failed: {failure}", "OPS-1"),
    ]
    assert PAGED_LABEL not in system.get("OPS-1").labels
    assert not any(r.outcome_unknown for r in report.results)
    assert [c.body for c in system.comments("OPS-1")] == [
        f"evidence\n\npaging on-call failed ({failure}); the next run pages again"
    ]
    pager_ok = InMemoryPager()
    apply_plan(plan, store(ticket("OPS-1", due=DUE)), pager_ok)
    assert [(e.ticket, e.ticket_url) for e in pager_ok.events] == [("OPS-1", url)]


def test_a_failed_edit_fails_every_action_it_carried() -> None:
    system = store(ticket("OPS-1", due=DUE))
    system.fail_on_write(1, PermanentBackendError("priority unknown"))
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.UPDATE, "OPS-1", edit=TicketEdit(due_date=date(2026, 11, 20))),
            act(ActionKind.ESCALATE, "OPS-1", edit=TicketEdit(priority="Urgent")),
            act(ActionKind.AMBIGUOUS, "OPS-1"),
        ],
    )
    report = apply_plan(plan, system)
    error = "edit of OPS-1 failed: priority unknown"
    assert outcome(list(report.results)) == [
        ("update", False, error, "OPS-1"),
        ("escalate", False, error, "OPS-1"),
        ("ambiguous", False, None, None),
    ]
    assert report.results[2].note == "report only"
    assert not any(r.outcome_unknown for r in report.results)
    assert system.get("OPS-1").due_date == DUE


def test_one_failed_page_does_not_stop_the_next_page_of_that_ticket() -> None:
    system, pager = store(ticket("OPS-1", due=DUE)), InMemoryPager()
    pager.fail_next()
    first = trigger()
    second = PageEvent("trigger", "tb-fedcba9876543210", "api expires in 1 day", CERT)
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.PAGE, "OPS-1", page=first),
            Action(ActionKind.PAGE, "OPS-1", CERT, "page reason 2", page=second),
        ],
    )
    report = apply_plan(plan, system, pager)
    assert [(r.applied, r.error is None) for r in report.results] == [(False, False), (True, True)]
    assert [event.dedup_key for event in pager.events] == ["tb-fedcba9876543210"]
    assert PAGED_LABEL in system.get("OPS-1").labels


def test_an_action_listed_twice_is_written_and_reported_once() -> None:
    # The audit log hangs off on_result: one record per action, however the plan was built.
    system = store(ticket("OPS-1", due=DUE))
    update = act(ActionKind.UPDATE, "OPS-1", edit=TicketEdit(due_date=date(2026, 11, 20)))
    seen: list[ActionResult] = []
    report = apply_plan(Plan.of(NOW, [update, update]), system, on_result=seen.append)
    assert [r.applied for r in seen] == [True]
    assert [(w.operation, w.key) for w in system.writes] == [("edit", "OPS-1")]
    assert report.applied == 2  # the report lists the plan's entries, each with its outcome


def test_a_page_for_a_ticket_never_created_pages_nobody() -> None:
    pager = InMemoryPager()
    plan = Plan.of(NOW, [act(ActionKind.PAGE, None, page=trigger())])
    with pytest.raises(AssertionError):
        apply_plan(plan, store(), pager)
    assert pager.events == []


def test_a_reopen_and_a_page_write_the_evidence_comment_not_the_page_note() -> None:
    system, pager = store(ticket("OPS-1", status="Done", due=DUE)), InMemoryPager()
    plan = Plan.of(
        NOW,
        [
            act(ActionKind.REOPEN, "OPS-1", comment="evidence"),
            act(ActionKind.PAGE, "OPS-1", page=trigger(), comment="evidence"),
        ],
    )
    report = apply_plan(plan, system, pager)
    assert report.ok and system.get("OPS-1").is_open
    # The page note replaces the evidence only after a create, which already carried it.
    assert [c.body for c in system.comments("OPS-1")] == ["evidence", "evidence"]
    assert PAGED_LABEL in system.get("OPS-1").labels


def test_without_on_call_sinks_a_page_is_recorded_as_done() -> None:
    system = store(ticket("OPS-1", due=DUE))
    report = apply_plan(Plan.of(NOW, [act(ActionKind.PAGE, "OPS-1", page=trigger())]), system)
    assert outcome(list(report.results)) == [("page", True, None, "OPS-1")]
    assert PAGED_LABEL in system.get("OPS-1").labels
