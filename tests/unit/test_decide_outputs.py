"""What a plan says, byte for byte where people and machines read it (SPEC "JSON shapes")."""

from __future__ import annotations

import json

from support.builders import NOW, failed, served
from support.decide_kit import (
    API,
    APP,
    URL,
    WILDCARD,
    W,
    at,
    day,
    fp,
    iso,
    open_ticket,
    plan,
    wildcard,
)
from ticketbridge.core.explain import MAX_LISTED_ENDPOINTS
from ticketbridge.core.inventory import InventoryPin
from ticketbridge.core.model import marker_label

SOON = at(30)


def test_a_new_tickets_description_says_what_when_where_and_how_it_is_tracked() -> None:
    pin = InventoryPin(names=WILDCARD, owner="platform")
    (create,) = plan(wildcard(SOON), pins=[pin]).actions
    assert create.new_ticket is not None
    assert create.new_ticket.description == "\n".join(
        [
            f"The TLS certificate for *.example.com, example.com expires {iso(SOON)} and must "
            f"be renewed and deployed to every endpoint serving it by {day(SOON, 21)}.",
            "Owner: platform",
            "",
            "Endpoints serving it when this ticket was filed:",
            f"- {API}",
            f"- {APP}",
            "",
            f"ticketbridge tracks this renewal with the label {marker_label(W)}: keep it. "
            "The ticket is resolved automatically once every endpoint serves the renewed "
            "certificate.",
        ]
    )


def test_a_create_comment_carries_the_evidence_an_auditor_asks_for() -> None:
    (create,) = plan(wildcard(SOON)).actions
    assert create.comment == "\n".join(
        [
            f"ticketbridge create ({iso(NOW)})",
            "",
            f"- create: {create.reason}.",
            "",
            "Changes:",
            f"- due date: (none) -> {day(SOON, 21)}",
            f"- labels: added ticketbridge, {marker_label(W)}",
            "- summary: (none) -> Renew TLS certificate *.example.com (+1 name)",
            "",
            f"Certificate {W}: *.example.com, example.com",
            f"Effective expiry: {iso(SOON)}",
            f"Fingerprints (SHA-256): {fp(SOON)}",
            "Served by:",
            f"- {API} sha256 {fp(SOON)} expires {iso(SOON)}",
            f"- {APP} sha256 {fp(SOON)} expires {iso(SOON)}",
        ]
    )


def test_every_action_on_an_existing_ticket_links_it() -> None:
    tickets = [
        open_ticket("OPS-1", due=day(at(2), 5), priority="Low"),  # update, escalate, page
        open_ticket("OPS-2", due=day(at(2), 21), created=NOW),  # duplicate
    ]
    actions = plan(wildcard(at(2)), tickets).actions
    assert {(str(a.kind), a.ticket, a.ticket_url) for a in actions} == {
        ("update", "OPS-1", URL + "OPS-1"),
        ("escalate", "OPS-1", URL + "OPS-1"),
        ("page", "OPS-1", URL + "OPS-1"),
        ("duplicate", "OPS-2", URL + "OPS-2"),
    }


def test_resolve_reopen_and_report_only_actions_link_their_tickets() -> None:
    resolved = plan(wildcard(at(300)), [open_ticket()]).actions
    reopened = plan(wildcard(SOON), [open_ticket(due=day(SOON, 21), status="Done")]).actions
    reported = plan(wildcard(at(300), hosts=("app",)), [open_ticket()]).actions
    assert [(str(a.kind), a.ticket_url) for a in (*resolved, *reopened, *reported)] == [
        ("resolve", URL + "OPS-1"),
        ("reopen", URL + "OPS-1"),
        ("unobserved", URL + "OPS-1"),
    ]


def test_the_plan_json_of_a_partial_run_lists_the_unobserved_endpoints() -> None:
    observations = [*wildcard(SOON, hosts=("app",)), failed("api.example.com", "192.0.2.11")]
    document = json.loads(plan(observations, [open_ticket(due=day(SOON, 21))]).to_json())
    (action,) = document["actions"]
    assert (action["kind"], action["ticket"], action["ticket_url"]) == (
        "unobserved",
        "OPS-1",
        URL + "OPS-1",
    )
    assert action["unobserved"] == [
        {"endpoint": API, "error": "timeout", "message": "timeout talking to 192.0.2.11"}
    ]
    assert action["comment"] is None
    assert document["writes"] == 0


def test_at_most_fifty_failures_are_listed_but_all_are_counted() -> None:
    count = MAX_LISTED_ENDPOINTS + 3
    hosts = [failed(f"n{i:02}.example.com", "192.0.2.99") for i in range(count)]
    (report,) = plan([*wildcard(at(300)), *hosts], [open_ticket(tracked=())]).actions
    assert len(report.unobserved) == MAX_LISTED_ENDPOINTS
    assert report.reason.endswith(
        f"and {count - 5} more could not be probed this run, so OPS-1 is not resolved"
    )


def test_a_stale_node_is_named_once_on_the_first_action_of_the_ticket() -> None:
    observations = [
        *wildcard(at(300)),
        served("app.example.com", "192.0.2.12", WILDCARD, at(10)),
    ]
    update, escalate = plan(observations, [open_ticket(due=day(at(10), 5), priority="Low")]).actions
    clause = (
        f"app.example.com:443@192.0.2.12 still serves the certificate expiring {iso(at(10))} "
        f"while 2 other endpoints serve one expiring {iso(at(300))}, so the renewal is not done"
    )
    assert update.reason.endswith(f"; {clause}")
    assert clause not in escalate.reason


def test_a_pinned_lead_time_moves_the_due_date_and_the_reason_says_so() -> None:
    pin = InventoryPin(names=WILDCARD, lead_days=30)
    (update,) = plan(wildcard(SOON), [open_ticket(due=None)], pins=[pin]).actions
    assert update.fields["duedate"].as_dict() == {"from": None, "to": str(day(SOON, 30))}
    assert update.reason == (
        f"it had no due date; *.example.com expires {SOON.date()} (UTC), so it is due "
        f"{day(SOON, 30)} with 30 days' lead time"
    )


def test_a_due_date_that_is_too_early_is_moved_later_with_its_reason() -> None:
    (update,) = plan(wildcard(SOON), [open_ticket(due=day(SOON, 25))]).actions
    assert update.fields["duedate"].as_dict() == {
        "from": str(day(SOON, 25)),
        "to": str(day(SOON, 21)),
    }
    assert update.reason == (
        f"due date {day(SOON, 25)} is earlier than needed; *.example.com expires "
        f"{SOON.date()} (UTC), so it is due {day(SOON, 21)} with 21 days' lead time"
    )


def test_the_plan_is_generated_at_now() -> None:
    assert plan(wildcard(SOON)).generated_at == NOW
    assert plan([]).generated_at == NOW


def test_a_create_names_its_assignee_and_its_stale_node() -> None:
    pin = InventoryPin(names=WILDCARD, assignee="alice")
    observations = [*wildcard(at(300)), served("app.example.com", "192.0.2.12", WILDCARD, SOON)]
    (create,) = plan(observations, pins=[pin]).actions
    assert create.fields["assignee"].as_dict() == {"from": None, "to": "alice"}
    assert create.reason == (
        f"no open ticket tracks *.example.com, which expires {iso(SOON)} (in 30 days), within "
        "the 45-day horizon; app.example.com:443@192.0.2.12 still serves the certificate "
        f"expiring {iso(SOON)} while 2 other endpoints serve one expiring {iso(at(300))}, so "
        "the renewal is not done"
    )
