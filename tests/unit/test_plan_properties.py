"""Invariants of planning over generated worlds: order-independent, convergent, never later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.builders import NOW, cert_id, failed, inventory, served, ticket
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.model import MARKER_LABEL, Observation, Ticket, marker_label
from ticketbridge.core.plan import DUPLICATE_LABEL, PAGED_LABEL, ActionKind
from ticketbridge.core.policy import Policy
from ticketbridge.testing import InMemoryPager, InMemoryTicketSystem

# Which name sets each host may serve: certificates name the hosts serving them, as in life.
SERVABLE: dict[str, list[tuple[str, ...]]] = {
    "a.example.com": [
        ("*.example.com", "example.com"),
        ("a.example.com",),
        ("a.example.com", "b.example.com"),
    ],
    "b.example.com": [("*.example.com", "example.com"), ("a.example.com", "b.example.com")],
    "c.example.com": [("*.example.com", "example.com")],
    "d.example.org": [("d.example.org",), ("d.example.org", "e.example.org"), ("*.example.org",)],
    "e.example.org": [("d.example.org", "e.example.org"), ("*.example.org",)],
}
ADDRESSES = ("192.0.2.1", "192.0.2.2")
NAME_SETS = sorted({names for sets in SERVABLE.values() for names in sets})
MENTIONS = [*SERVABLE, "*.example.com", "example.com", "*.example.org", "nothing.example.net"]
EXPIRY_DAYS = (-2, 1, 2, 5, 10, 13, 20, 30, 44, 46, 60, 200)
ENDPOINT_LABELS = [f"{host}:443@{address}" for host in SERVABLE for address in ADDRESSES]

POLICIES = st.builds(
    Policy,
    keep_earlier_due_date=st.booleans(),
    resolve_on_renewal=st.booleans(),
    timezone=st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Tokyo"]),
)


@dataclass(frozen=True)
class World:
    observations: list[Observation]
    tickets: list[Ticket]
    policy: Policy


@st.composite
def observations(draw: st.DrawFn) -> list[Observation]:
    found = []
    for host, choices in SERVABLE.items():
        for address in ADDRESSES:
            if draw(st.integers(0, 4)) == 0:
                continue  # not configured
            names = draw(st.sampled_from(choices))
            days = draw(st.sampled_from(EXPIRY_DAYS))
            found.append(served(host, address, names, NOW + timedelta(days=days, hours=3)))
    return found


@st.composite
def tickets(draw: st.DrawFn) -> list[Ticket]:
    drawn = []
    for number in range(1, draw(st.integers(0, 6)) + 1):
        style = draw(st.sampled_from(["marker", "marker", "hand-filed", "two-markers", "stray"]))
        labels: list[str] = []
        summary = "Renew a certificate"
        if style in ("marker", "two-markers"):
            labels += [MARKER_LABEL, marker_label(cert_id(draw(st.sampled_from(NAME_SETS))))]
        if style == "two-markers":
            labels.append(marker_label(cert_id(draw(st.sampled_from(NAME_SETS)))))
        if style == "stray":
            labels.append(marker_label("0123456789abcdef"))
        if style == "hand-filed":
            mentioned = draw(st.lists(st.sampled_from(MENTIONS), min_size=1, max_size=2))
            summary = "Renew " + " and ".join(mentioned)
        labels += draw(st.lists(st.sampled_from([PAGED_LABEL, DUPLICATE_LABEL]), max_size=1))
        due_offset = draw(st.one_of(st.none(), st.integers(-60, 300)))
        drawn.append(
            ticket(
                f"OPS-{number}",
                summary,
                due=None if due_offset is None else date(2026, 11, 26) + timedelta(days=due_offset),
                labels=tuple(dict.fromkeys(labels)),
                status=draw(st.sampled_from(["To Do", "In Progress", "Done"])),
                created=NOW - timedelta(days=draw(st.integers(1, 400))),
                priority=draw(st.sampled_from([None, "Medium", "Highest"])),
                assignee=draw(st.sampled_from([None, "alice"])),
                tracked=tuple(
                    draw(st.lists(st.sampled_from(ENDPOINT_LABELS), max_size=3, unique=True))
                ),
            )
        )
    return drawn


@st.composite
def worlds(draw: st.DrawFn) -> World:
    return World(draw(observations()), draw(tickets()), draw(POLICIES))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(world=worlds(), data=st.data())
def test_the_plan_does_not_depend_on_input_order(world: World, data: st.DataObject) -> None:
    shuffled_observations = data.draw(st.permutations(world.observations))
    shuffled_tickets = data.draw(st.permutations(world.tickets))

    forward = decide(inventory(*world.observations), world.tickets, world.policy, NOW)
    shuffled = decide(inventory(*shuffled_observations), shuffled_tickets, world.policy, NOW)

    assert shuffled.to_json() == forward.to_json()


@FAST
@given(world=worlds())
def test_applying_a_plan_then_planning_again_writes_nothing(world: World) -> None:
    system = InMemoryTicketSystem(world.tickets, clock=lambda: NOW)
    facts = inventory(*world.observations)

    report = apply_plan(
        decide(facts, system.open_tickets(), world.policy, NOW), system, InMemoryPager()
    )

    assert report.ok, [result.error for result in report.failures]
    again = decide(facts, system.open_tickets(), world.policy, NOW)
    assert again.writes == 0, again.to_json()


@FAST
@given(world=worlds(), data=st.data())
def test_partial_observations_never_move_a_due_date_later_nor_resolve_what_they_hide(
    world: World, data: st.DataObject
) -> None:
    if not world.observations:
        return
    indexes = range(len(world.observations))
    hidden = data.draw(st.sets(st.sampled_from(indexes), min_size=1))
    partial = [
        failed(o.endpoint.host, o.endpoint.address) if index in hidden else o
        for index, o in enumerate(world.observations)
    ]
    hidden_labels = {world.observations[index].endpoint.label for index in hidden}
    # Certificates served (before the failure) where a probe now fails: their facts are partial.
    hidden_ids = {
        cert_id(world.observations[index].certificate.names)  # type: ignore[union-attr]
        for index in hidden
    }
    by_key = {t.key: t for t in world.tickets}

    result = decide(inventory(*partial), world.tickets, world.policy, NOW)

    for action in result.actions:
        if action.ticket is None:
            continue
        affected = action.certificate.id in hidden_ids or bool(
            hidden_labels & set(by_key[action.ticket].tracked_endpoints)
        )
        change = action.fields.get("duedate")
        if action.kind is ActionKind.UPDATE and change is not None and change.before is not None:
            assert not affected or str(change.after) <= str(change.before), action.reason
        if action.kind is ActionKind.RESOLVE:
            resolved = by_key[action.ticket]
            assert not hidden_labels & set(resolved.tracked_endpoints), action.reason
            if not resolved.tracked_endpoints:
                assert not hidden_ids & set(resolved.marker_ids), action.reason
