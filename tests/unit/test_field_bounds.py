"""No plan can hold a write a backend would refuse, whatever the certificates say and however many.

Each backend's limits, as the backends themselves enforce them: `core.fields` validators (the
local store and the in-memory fake call exactly these), and Jira's own limits as the adapter sends
text — wrapped in `{noformat}` on Data Center, where every `{noformat}` inside gains a character.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from support.big_worlds import NOW, BigWorld, big_worlds, observation
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.fields import (
    MAX_COMMENT,
    MAX_DESCRIPTION,
    valid_comment,
    valid_description,
    valid_evidence,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.testing import InMemoryPager, InMemoryTicketSystem
from ticketbridge.tickets.jira.richtext import wrap_noformat

BOUNDS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _texts(plan: Plan) -> Iterator[tuple[str, str]]:
    for action in plan.actions:
        if action.comment:
            yield "comment", action.comment
        if action.new_ticket is not None:
            yield "description", action.new_ticket.description


def _fits_jira(name: str, text: str) -> None:
    # Jira Cloud counts the text of the ADF document, Data Center the wiki markup sent.
    limit = MAX_COMMENT if name == "comment" else MAX_DESCRIPTION
    assert len(text) <= limit
    assert len(wrap_noformat(text)) <= limit, f"{name}: {len(wrap_noformat(text))} with markup"


@BOUNDS
@given(world=big_worlds())
def test_every_planned_write_is_within_every_backends_limits(world: BigWorld) -> None:
    plan = decide(build_inventory(world.observations, ()), world.tickets, world.policy, NOW)

    assert plan.writes > 0
    for action in plan.actions:
        if action.writes:
            valid_comment(action.comment)
        if action.new_ticket is not None:
            new = action.new_ticket
            valid_summary(new.summary)
            valid_labels(new.labels)
            valid_description(new.description)
            valid_evidence({"certificate_id": new.certificate_id, **new.evidence})
            for value in (new.priority, new.assignee):
                if value is not None:
                    valid_field("field", value)
        if action.edit is not None and action.edit.evidence is not None:
            valid_evidence(action.edit.evidence)
    for name, text in _texts(plan):
        _fits_jira(name, text)


@BOUNDS
@given(world=big_worlds())
def test_a_plan_over_any_certificates_applies_and_then_converges(world: BigWorld) -> None:
    system = InMemoryTicketSystem(world.tickets, clock=lambda: NOW)
    facts = build_inventory(world.observations, ())

    report = apply_plan(
        decide(facts, system.open_tickets(), world.policy, NOW), system, InMemoryPager()
    )

    assert report.ok, [result.error for result in report.failures]
    again = decide(facts, system.open_tickets(), world.policy, NOW)
    assert again.writes == 0, again.to_json()


def test_a_san_with_a_newline_cannot_break_the_summary_or_forge_evidence_lines() -> None:
    names = ("line1\nline2.test", "crlf\r\n- forged evidence line")
    served = observation("app.test", "192.0.2.1", names, NOW + timedelta(days=5))

    plan = decide(build_inventory([served], ()), [], Policy(), NOW)

    create = next(action for action in plan.actions if action.new_ticket is not None)
    assert create.new_ticket is not None
    assert valid_summary(create.new_ticket.summary)
    assert "line1\\nline2.test" in create.new_ticket.summary
    assert "\n- forged evidence line" not in create.comment
    assert "crlf\\r\\n- forged evidence line" in create.comment


def test_ten_thousand_names_read_as_the_first_names_then_how_many_more() -> None:
    names = tuple(f"host{index}.example.com" for index in range(10_000))
    served = observation("app.test", "192.0.2.1", names, NOW + timedelta(days=5))

    plan = decide(build_inventory([served], ()), [], Policy(), NOW)

    create = next(action for action in plan.actions if action.new_ticket is not None)
    assert create.new_ticket is not None
    first_line = create.new_ticket.description.splitlines()[0]
    shown = first_line.count(".example.com")
    assert 10 < shown < 200
    assert f" and {10_000 - shown:,} more expires " in first_line
    assert f" and {10_000 - shown:,} more\n" in create.comment
    assert create.new_ticket.summary == "Renew TLS certificate host0.example.com (+9999 names)"
