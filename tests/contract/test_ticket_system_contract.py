"""The contract every TicketSystem keeps: what the reconciler may rely on, asserted on outcomes."""

from __future__ import annotations

import secrets
from datetime import date

import pytest

from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.core.model import MARKER_LABEL, Ticket, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit, TicketSystem
from ticketbridge.errors import PermanentBackendError

DUE = date(2026, 11, 14)


def certificate_id() -> str:
    # Fresh per test: a shared backend (a Jira server) keeps tickets from other tests.
    return secrets.token_hex(8)


def new_ticket(cid: str, **changes: object) -> NewTicket:
    fields: dict[str, object] = {
        "summary": "Renew certificate *.example.com (expires 2026-12-05)",
        "description": "Served by app.example.com and api.example.com.",
        "due_date": DUE,
        "labels": (MARKER_LABEL, marker_label(cid)),
        "certificate_id": cid,
        "evidence": {
            "certificate_id": cid,
            "endpoints": ["app.example.com:443@192.0.2.10", "api.example.com:443@192.0.2.11"],
        },
    }
    fields.update(changes)
    return NewTicket(**fields)  # type: ignore[arg-type]


def open_keys(system: TicketSystem) -> set[str]:
    return {ticket.key for ticket in system.open_tickets()}


def only(tickets: object) -> Ticket:
    found = list(tickets)  # type: ignore[call-overload]
    assert len(found) == 1, found
    ticket = found[0]
    assert isinstance(ticket, Ticket)
    return ticket


# -- create and find --------------------------------------------------------------------------


def test_created_ticket_is_found_by_its_marker_with_its_labels(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed by ticketbridge.")

    found = only(ticket_system.find_by_marker(cid))
    assert found == created
    assert found.summary == "Renew certificate *.example.com (expires 2026-12-05)"
    assert found.due_date == DUE
    assert set(found.labels) >= {MARKER_LABEL, marker_label(cid)}
    assert found.marker_ids == (cid,)
    assert found.is_open
    assert found.status_category == "new"
    assert found.resolved_at is None
    assert found.created.tzinfo is not None


def test_created_ticket_is_open(ticket_system: TicketSystem) -> None:
    created = ticket_system.create(new_ticket(certificate_id()), "Filed.")
    assert created.key in open_keys(ticket_system)


def test_create_adds_the_evidence_comment(ticket_system: TicketSystem) -> None:
    created = ticket_system.create(new_ticket(certificate_id()), "Evidence: fingerprint ab:cd.")
    assert [comment.body for comment in ticket_system.comments(created.key)] == [
        "Evidence: fingerprint ab:cd."
    ]


def test_marker_search_tells_certificates_apart(ticket_system: TicketSystem) -> None:
    first, second = certificate_id(), certificate_id()
    one = ticket_system.create(new_ticket(first), "Filed.")
    two = ticket_system.create(new_ticket(second), "Filed.")

    assert one.key != two.key
    assert only(ticket_system.find_by_marker(first)).key == one.key
    assert only(ticket_system.find_by_marker(second)).key == two.key
    assert list(ticket_system.find_by_marker(certificate_id())) == []


def test_tracked_endpoints_round_trip(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")
    expected = ("app.example.com:443@192.0.2.10", "api.example.com:443@192.0.2.11")
    assert created.tracked_endpoints == expected
    assert only(ticket_system.find_by_marker(cid)).tracked_endpoints == expected

    moved = ["app.example.com:443@192.0.2.10", "app.example.com:443@[2001:db8::10]"]
    edited = ticket_system.edit(
        created.key, TicketEdit(evidence={"certificate_id": cid, "endpoints": moved}), "Moved."
    )
    assert edited.tracked_endpoints == tuple(moved)
    listed = list(ticket_system.open_tickets())
    # Jira Data Center's search cannot return issue properties (its SearchRequestBean has no
    # `properties`): the adapter reads them by key for the tickets a run did not observe.
    complete = getattr(ticket_system, "with_tracked_endpoints", None)
    if callable(complete):
        listed = complete(listed, set())
    listed = [ticket for ticket in listed if ticket.key == created.key]
    assert only(listed).tracked_endpoints == tuple(moved)


# -- edit -------------------------------------------------------------------------------------


def test_edit_changes_due_date_with_exactly_one_comment(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")

    edited = ticket_system.edit(
        created.key, TicketEdit(due_date=date(2026, 10, 1)), "Due date 2026-11-14 -> 2026-10-01."
    )

    assert edited.due_date == date(2026, 10, 1)
    assert only(ticket_system.find_by_marker(cid)) == edited
    assert [comment.body for comment in ticket_system.comments(created.key)] == [
        "Filed.",
        "Due date 2026-11-14 -> 2026-10-01.",
    ]


def test_edit_adds_labels_and_keeps_the_old_ones(ticket_system: TicketSystem) -> None:
    cid, adopted = certificate_id(), certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")

    edited = ticket_system.edit(
        created.key, TicketEdit(add_labels=(marker_label(adopted), MARKER_LABEL)), "Adopted."
    )

    assert set(edited.labels) == {MARKER_LABEL, marker_label(cid), marker_label(adopted)}
    assert len(edited.labels) == len(set(edited.labels))
    assert only(ticket_system.find_by_marker(adopted)).key == created.key
    assert only(ticket_system.find_by_marker(cid)).key == created.key
    assert len(ticket_system.comments(created.key)) == 2


def test_edit_raises_priority(ticket_system: TicketSystem) -> None:
    created = ticket_system.create(new_ticket(certificate_id()), "Filed.")

    edited = ticket_system.edit(created.key, TicketEdit(priority="Highest"), "Expires in 9 days.")

    assert edited.priority == "Highest"
    assert edited.due_date == DUE
    assert len(ticket_system.comments(created.key)) == 2


def test_edit_of_an_unknown_key_is_permanent(ticket_system: TicketSystem) -> None:
    with pytest.raises(PermanentBackendError):
        ticket_system.edit("NOPE-404", TicketEdit(due_date=DUE), "Nothing to edit.")


@pytest.mark.parametrize("operation", ["add_comment", "transition", "comments"])
def test_other_operations_on_an_unknown_key_are_permanent(
    ticket_system: TicketSystem, operation: str
) -> None:
    with pytest.raises(PermanentBackendError):
        if operation == "add_comment":
            ticket_system.add_comment("NOPE-404", "hello")
        elif operation == "transition":
            ticket_system.transition("NOPE-404", "done", "Renewed.")
        else:
            ticket_system.comments("NOPE-404")


# -- transitions ------------------------------------------------------------------------------


def test_done_closes_resolves_and_stays_findable(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")

    closed = ticket_system.transition(created.key, "done", "Renewal live on every endpoint.")

    assert not closed.is_open
    assert closed.status_category == "done"
    assert closed.resolved_at is not None
    assert closed.resolved_at.tzinfo is not None
    assert only(ticket_system.find_by_marker(cid)) == closed
    # Recently closed tickets with a marker stay in view, so a reopen can be decided.
    listed = [ticket for ticket in ticket_system.open_tickets() if ticket.key == created.key]
    assert not only(listed).is_open
    assert ticket_system.comments(created.key)[-1].body == "Renewal live on every endpoint."


def test_reopen_makes_it_open_again(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")
    ticket_system.transition(created.key, "done", "Renewed.")

    reopened = ticket_system.transition(created.key, "reopen", "Still expiring on 192.0.2.12.")

    assert reopened.is_open
    assert reopened.status_category != "done"
    assert reopened.resolved_at is None
    assert only(ticket_system.find_by_marker(cid)) == reopened
    listed = [ticket for ticket in ticket_system.open_tickets() if ticket.key == created.key]
    assert only(listed).is_open
    assert [comment.body for comment in ticket_system.comments(created.key)] == [
        "Filed.",
        "Renewed.",
        "Still expiring on 192.0.2.12.",
    ]


def test_closed_ticket_without_a_marker_leaves_open_tickets(ticket_system: TicketSystem) -> None:
    created = ticket_system.create(new_ticket(certificate_id(), labels=(MARKER_LABEL,)), "Filed.")
    ticket_system.transition(created.key, "done", "Done by hand.")

    assert created.key not in open_keys(ticket_system)


# -- comments ---------------------------------------------------------------------------------

AWKWARD_BODIES = [
    "Plain evidence.",
    "Ünïcödé: 証明書の更新 — expires 2026‑12‑05 ✅ 🔐",
    "{code}openssl s_client -connect app.example.com:443{code}",
    "See [the runbook|https://wiki.example.com/tls?x=1&y=2] and *bold* _it_ {{mono}}",
    "Line one\nLine two\n\n  indented * not a list\n|| table || header ||",
    "Quotes ' \" ` and a backslash \\ and percent %s %(x)s",
]


def test_comments_keep_order_and_exact_text(ticket_system: TicketSystem) -> None:
    created = ticket_system.create(new_ticket(certificate_id()), AWKWARD_BODIES[0])
    for body in AWKWARD_BODIES[1:]:
        ticket_system.add_comment(created.key, body)

    comments = ticket_system.comments(created.key)

    assert [comment.body for comment in comments] == AWKWARD_BODIES
    assert all(comment.created.tzinfo is not None for comment in comments)
    assert [c.created for c in comments] == sorted(c.created for c in comments)


# -- validation -------------------------------------------------------------------------------

INVALID_LABELS = [
    pytest.param("two words", id="space"),
    pytest.param("tab\there", id="tab"),
    pytest.param("", id="empty"),
    pytest.param("x" * 256, id="too-long"),
]


@pytest.mark.parametrize("label", INVALID_LABELS)
def test_create_with_an_invalid_label_is_permanent_and_writes_nothing(
    ticket_system: TicketSystem, label: str
) -> None:
    cid = certificate_id()
    with pytest.raises(PermanentBackendError):
        ticket_system.create(new_ticket(cid, labels=(marker_label(cid), label)), "Filed.")
    assert list(ticket_system.find_by_marker(cid)) == []


@pytest.mark.parametrize("label", INVALID_LABELS)
def test_edit_with_an_invalid_label_is_permanent_and_changes_nothing(
    ticket_system: TicketSystem, label: str
) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid), "Filed.")

    with pytest.raises(PermanentBackendError):
        ticket_system.edit(
            created.key, TicketEdit(add_labels=(label,), due_date=date(2026, 1, 1)), "x"
        )

    assert only(ticket_system.find_by_marker(cid)) == created
    assert len(ticket_system.comments(created.key)) == 1


def test_a_summary_longer_than_255_characters_is_permanent(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    with pytest.raises(PermanentBackendError):
        ticket_system.create(new_ticket(cid, summary="R" * 256), "Filed.")
    assert list(ticket_system.find_by_marker(cid)) == []


def test_a_summary_of_255_characters_is_accepted(ticket_system: TicketSystem) -> None:
    cid = certificate_id()
    created = ticket_system.create(new_ticket(cid, summary="R" * 255), "Filed.")
    assert only(ticket_system.find_by_marker(cid)).summary == "R" * 255
    assert created.summary == "R" * 255
