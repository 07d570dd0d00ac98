"""Saved plans' ids and staleness: the id covers the writes only; a stale plan says what moved."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from support.builders import (
    NOW,
    WILDCARD,
    WILDCARD_EXPIRY,
    failed,
    incident,
    inventory,
    markers,
    served,
    ticket,
)
from ticketbridge.core.approval import (
    PlanFacts,
    plan_id,
    saved_plan,
    saved_plan_id,
    stale_reasons,
)
from ticketbridge.core.decide import decide
from ticketbridge.core.model import ErrorKind
from ticketbridge.core.plan import Action, ActionKind, CertificateSummary, Plan
from ticketbridge.core.policy import Policy

POLICY = Policy()


def saved_round_trip(plan: Plan, facts: PlanFacts) -> dict[str, object]:
    """What `plan --out` writes, read back as JSON (tuples become lists, as in the file)."""
    loaded: dict[str, object] = json.loads(json.dumps(saved_plan(plan, facts)))
    return loaded


def test_the_id_ignores_wording_and_time_but_not_what_is_written() -> None:
    plan = decide(incident(), [], POLICY, NOW)
    assert plan.writes
    reworded = Plan.of(
        NOW + timedelta(days=1),
        [replace(a, reason=a.reason + " (reworded)", comment="other") for a in plan.actions],
    )
    assert plan_id(reworded) == plan_id(plan)
    later_due = [
        replace(a, fields={**a.fields, "duedate": replace(a.fields["duedate"], after="2099-01-01")})
        if "duedate" in a.fields
        else a
        for a in plan.actions
    ]
    assert plan_id(Plan.of(NOW, later_due)) != plan_id(plan)
    other_ticket = [replace(a, ticket="OPS-99") for a in plan.actions]
    assert plan_id(Plan.of(NOW, other_ticket)) != plan_id(plan)


def test_report_only_actions_are_not_covered_by_the_id() -> None:
    plan = decide(incident(), [], POLICY, NOW)
    unobserved = Action(
        kind=ActionKind.UNOBSERVED,
        ticket=None,
        certificate=CertificateSummary(id="0123456789abcdef"),
        reason="timeout",
    )
    assert plan_id(Plan.of(NOW, [*plan.actions, unobserved])) == plan_id(plan)
    assert plan_id(Plan.of(NOW, [])) == plan_id(Plan.of(NOW, [unobserved]))


def test_a_saved_plan_read_back_hashes_to_its_own_id() -> None:
    facts = incident()
    plan = decide(facts, [], POLICY, NOW)
    document = saved_round_trip(plan, PlanFacts.of(facts, []))
    assert document["plan_id"] == plan_id(plan) == saved_plan_id(document)
    assert document["version"] == 1
    inputs = document["inputs"]
    assert isinstance(inputs, dict)
    assert inputs["observations"]["count"] == 3 and inputs["tickets"]["count"] == 0


def test_inputs_are_the_same_for_the_same_facts_seen_later() -> None:
    seen = incident()
    later = inventory(
        *[replace(o, observed_at=NOW + timedelta(hours=3)) for c in seen.certificates
          for o in c.observations]
    )  # fmt: skip
    assert PlanFacts.of(seen, []).inputs() == PlanFacts.of(later, []).inputs()
    moved = inventory(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    assert PlanFacts.of(moved, []).inputs() != PlanFacts.of(seen, []).inputs()


def test_stale_reasons_name_the_endpoint_that_moved_from_what_to_what() -> None:
    before = inventory(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    renewed_expiry = WILDCARD_EXPIRY + timedelta(days=20)
    after = inventory(served("app.example.com", "192.0.2.10", WILDCARD, renewed_expiry))
    document = saved_round_trip(decide(before, [], POLICY, NOW), PlanFacts.of(before, []))
    fresh = decide(after, [], POLICY, NOW)
    reasons = stale_reasons(document, fresh, PlanFacts.of(after, []))
    (moved,) = [r for r in reasons if r.startswith("endpoint ")]
    assert "app.example.com:443@192.0.2.10" in moved
    assert "2026-12-05T21:44:22Z" in moved and "2026-12-25T21:44:22Z" in moved
    assert any(r.startswith("no longer planned: create") and "2026-11-14" in r for r in reasons)
    assert any(r.startswith("newly planned: create") and "2026-12-04" in r for r in reasons)


def test_stale_reasons_name_an_endpoint_that_failed_or_appeared() -> None:
    before = inventory(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    after = inventory(
        failed("app.example.com", "192.0.2.10", ErrorKind.REFUSED),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
    )
    document = saved_round_trip(decide(before, [], POLICY, NOW), PlanFacts.of(before, []))
    reasons = stale_reasons(document, decide(after, [], POLICY, NOW), PlanFacts.of(after, []))
    assert any("app.example.com:443@192.0.2.10" in r and "no certificate (refused)" in r
               for r in reasons)  # fmt: skip
    assert any(
        "api.example.com:443@192.0.2.11 served nothing" in r and "now certificate" in r
        for r in reasons
    )


def test_stale_reasons_name_the_ticket_that_changed() -> None:
    facts = incident()
    due = date(2026, 12, 1)
    before = [ticket("OPS-1", due=due, labels=markers(WILDCARD))]
    after = [replace(before[0], due_date=date(2026, 11, 14), status="In Progress")]
    appeared = ticket("OPS-2", labels=("other",))
    document = saved_round_trip(decide(facts, before, POLICY, NOW), PlanFacts.of(facts, before))
    fresh_tickets = [*after, appeared]
    fresh = decide(facts, fresh_tickets, POLICY, NOW)
    reasons = stale_reasons(document, fresh, PlanFacts.of(facts, fresh_tickets))
    (changed,) = [r for r in reasons if r.startswith("ticket OPS-1")]
    assert "due_date '2026-12-01' -> '2026-11-14'" in changed
    assert "status 'To Do' -> 'In Progress'" in changed
    assert any(r.startswith("ticket OPS-2 appeared") for r in reasons)
    gone = stale_reasons(document, decide(facts, [], POLICY, NOW), PlanFacts.of(facts, []))
    assert any(r == "ticket OPS-1 is no longer open (was To Do)" for r in gone)


def test_same_facts_but_a_different_plan_blames_the_configuration() -> None:
    facts = incident()
    document = saved_round_trip(decide(facts, [], POLICY, NOW), PlanFacts.of(facts, []))
    document["actions"] = []
    fresh = decide(facts, [], POLICY, NOW)
    reasons = stale_reasons(document, fresh, PlanFacts.of(facts, []))
    assert reasons and all(r.startswith("newly planned: ") for r in reasons)
    identical = saved_round_trip(fresh, PlanFacts.of(facts, []))
    assert stale_reasons(identical, fresh, PlanFacts.of(facts, [])) == [
        "the configuration or policy changed, or the saved file was edited"
    ]
