"""Every backend applies whatever the planner plans, for certificates of any size and any name
text, and the next plan is empty: the limits the planner keeps are the ones backends enforce."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from support.big_worlds import NOW, BigWorld, big_worlds
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.ports import TicketSystem
from ticketbridge.testing import InMemoryPager


@settings(
    max_examples=12,
    deadline=None,
    # One backend serves every example: tickets from earlier examples stay, as in life.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(world=big_worlds())
def test_any_plan_applies_on_every_backend_and_then_converges(
    ticket_system: TicketSystem, world: BigWorld
) -> None:
    facts = build_inventory(world.observations, ())

    plan = decide(facts, ticket_system.open_tickets(), world.policy, NOW)
    report = apply_plan(plan, ticket_system, InMemoryPager())

    assert report.ok, [result.error for result in report.failures]
    again = decide(facts, ticket_system.open_tickets(), world.policy, NOW)
    assert again.writes == 0, again.to_json()
