"""The reconciler: one table row per decision of SPEC, then the incident and the tricky cases."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from support.builders import (
    NOW,
    RENEWED_EXPIRY,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    WWW_EXPIRY,
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
from ticketbridge.core.inventory import Inventory, InventoryPin
from ticketbridge.core.model import MARKER_LABEL, Observation, Ticket, marker_label
from ticketbridge.core.plan import DUPLICATE_LABEL, PAGED_LABEL, ActionKind, Plan
from ticketbridge.core.policy import Policy
from ticketbridge.errors import UnsafePlan

W = cert_id(WILDCARD)
APP = "app.example.com:443@192.0.2.10"
API = "api.example.com:443@192.0.2.11"


def wildcard(expiry: datetime, *, app: bool = True, api: bool = True) -> list[Observation]:
    observations = []
    if app:
        observations.append(served("app.example.com", "192.0.2.10", WILDCARD, expiry))
    if api:
        observations.append(served("api.example.com", "192.0.2.11", WILDCARD, expiry))
    return observations


def due_for(expiry: datetime, lead_days: int = 21) -> date:
    return expiry.date() - timedelta(days=lead_days)


def decide(
    facts: Inventory, tickets: list[Ticket], policy: Policy | None = None, now: datetime = NOW
) -> Plan:
    return decider.decide(facts, tickets, policy or Policy(), now)


def kinds(result: Plan) -> list[tuple[str, str | None]]:
    return [(str(action.kind), action.ticket) for action in result.actions]


# -- one row per decision ---------------------------------------------------------------------

SOON = NOW + timedelta(days=30)  # inside the horizon, outside escalation
URGENT = NOW + timedelta(days=10)  # inside escalation, outside paging
PAGING = NOW + timedelta(days=2)
EXPIRED = NOW - timedelta(days=1)
RENEWED = NOW + timedelta(days=300)
OLD_NAMES = ("a.example.net", "b.example.net")
NEW_NAMES = ("a.example.net", "b.example.net", "c.example.net")
A1, B1 = "a.example.net:443@198.51.100.1", "b.example.net:443@198.51.100.2"


def name_set_world(a_names: tuple[str, ...], b_names: tuple[str, ...]) -> list[Observation]:
    return [
        served("a.example.net", "198.51.100.1", a_names, RENEWED if len(a_names) == 3 else SOON),
        served("b.example.net", "198.51.100.2", b_names, RENEWED if len(b_names) == 3 else SOON),
    ]


@dataclass(frozen=True)
class Row:
    id: str
    observations: list[Observation]
    tickets: list[Ticket] = field(default_factory=list)
    expected: list[tuple[str, str | None]] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)


def marked(key: str = "OPS-1", expiry: datetime = SOON, **changes: object) -> Ticket:
    fields: dict[str, object] = {
        "due": due_for(expiry),
        "labels": markers(WILDCARD),
        "tracked": (API, APP),
    }
    fields.update(changes)
    return ticket(key, "Renew TLS certificate *.example.com (+1 name)", **fields)  # type: ignore[arg-type]


ROWS = [
    Row("create within the horizon", wildcard(SOON), [], [("create", None)]),
    Row(
        "create and escalate in one run",
        wildcard(URGENT),
        [],
        [("create", None), ("escalate", None)],
    ),
    Row(
        "create, escalate and page an expired certificate",
        wildcard(EXPIRED),
        [],
        [("create", None), ("escalate", None), ("page", None)],
    ),
    Row("nothing to do beyond the horizon", wildcard(RENEWED), [], []),
    Row("a matching ticket that is right is left alone", wildcard(SOON), [marked()], []),
    Row(
        "update a due date that is too early",
        wildcard(SOON),
        [marked(due=due_for(SOON) - timedelta(days=5))],
        [("update", "OPS-1")],
    ),
    Row(
        "keep an earlier due date when the policy says so",
        wildcard(SOON),
        [marked(due=due_for(SOON) - timedelta(days=5))],
        [],
        Policy(keep_earlier_due_date=True),
    ),
    Row(
        "a due date that is too late is corrected whatever the policy",
        wildcard(SOON),
        [marked(due=due_for(SOON) + timedelta(days=5))],
        [("update", "OPS-1")],
        Policy(keep_earlier_due_date=True),
    ),
    Row(
        "a ticket without a due date gets one",
        wildcard(SOON),
        [marked(due=None)],
        [("update", "OPS-1")],
    ),
    Row(
        "escalate within the escalation window",
        wildcard(URGENT),
        [marked(expiry=URGENT, priority="Medium")],
        [("escalate", "OPS-1")],
    ),
    Row(
        "never escalate twice",
        wildcard(URGENT),
        [marked(expiry=URGENT, priority="Highest")],
        [],
    ),
    Row(
        "escalate a ticket past its due date that nobody started",
        wildcard(SOON),
        [marked(due=due_for(SOON, 35))],
        [("escalate", "OPS-1")],
        Policy(lead_days=35),
    ),
    Row(
        "past due but in progress is not escalated",
        wildcard(SOON),
        [marked(due=due_for(SOON, 35), status="In Progress")],
        [],
        Policy(lead_days=35),
    ),
    Row(
        "page within the paging window",
        wildcard(PAGING),
        [marked(expiry=PAGING, priority="Highest")],
        [("page", "OPS-1")],
    ),
    Row(
        "never page twice",
        wildcard(PAGING),
        [marked(expiry=PAGING, priority="Highest", labels=(*markers(WILDCARD), PAGED_LABEL))],
        [],
    ),
    Row(
        "resolve once every tracked endpoint is renewed",
        wildcard(RENEWED),
        [marked()],
        [("resolve", "OPS-1")],
    ),
    Row(
        "resolve on the certificate's own expiry when endpoints were not recorded",
        wildcard(RENEWED),
        [marked(tracked=())],
        [("resolve", "OPS-1")],
    ),
    Row(
        "never resolve while a tracked endpoint cannot be probed",
        [*wildcard(RENEWED, api=False), failed("api.example.com", "192.0.2.11")],
        [marked()],
        [("unobserved", "OPS-1")],
    ),
    Row(
        "never resolve on partial observations, even without recorded endpoints",
        [*wildcard(RENEWED, api=False), failed("api.example.com", "192.0.2.11")],
        [marked(tracked=())],
        [("unobserved", "OPS-1")],
    ),
    Row(
        "a tracked endpoint missing from this run keeps the ticket open",
        wildcard(RENEWED, api=False),
        [marked()],
        [("unobserved", "OPS-1")],
    ),
    Row(
        "resolution can be left to people",
        wildcard(RENEWED),
        [marked()],
        [],
        Policy(resolve_on_renewal=False),
    ),
    Row(
        "reopen a ticket closed before the renewal was live",
        wildcard(SOON),
        [marked(status="Done")],
        [("reopen", "OPS-1")],
    ),
    Row(
        "a ticket closed for last year's renewal is not reopened: a new one is filed",
        wildcard(SOON),
        [marked(status="Done", due=due_for(SOON) - timedelta(days=365))],
        [("create", None)],
    ),
    Row(
        "duplicate marker tickets: the oldest is kept",
        wildcard(SOON),
        [marked("OPS-1"), marked("OPS-2", created=NOW - timedelta(days=2))],
        [("duplicate", "OPS-2")],
    ),
    Row(
        "a duplicate is flagged once",
        wildcard(SOON),
        [
            marked("OPS-1"),
            marked("OPS-2", labels=(*markers(WILDCARD), DUPLICATE_LABEL), created=NOW),
        ],
        [],
    ),
    Row(
        "adopt a hand-filed ticket naming the certificate",
        wildcard(SOON),
        [ticket("OPS-7", "Renew *.example.com", due=due_for(SOON))],
        [("update", "OPS-7")],
    ),
    Row(
        "several hand-filed tickets: adopt the oldest, flag the others",
        wildcard(SOON),
        [
            ticket("OPS-8", "renew app.example.com cert", due=due_for(SOON), created=NOW),
            ticket("OPS-7", "Renew *.example.com", due=due_for(SOON)),
        ],
        [("update", "OPS-7"), ("duplicate", "OPS-8")],
    ),
    Row(
        "a ticket naming two certificates is only reported",
        [*wildcard(SOON), served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY)],
        [ticket("OPS-9", "Renew app.example.com and www.example.com", due=date(2026, 12, 1))],
        [("create", None), ("ambiguous", "OPS-9")],
    ),
    Row(
        "a ticket carrying two markers is only reported",
        wildcard(SOON),
        [ticket("OPS-9", "Renew", labels=(*markers(WILDCARD), marker_label("0" * 16)))],
        [("create", None), ("ambiguous", "OPS-9")],
    ),
    Row(
        "tickets merely mentioning a host far from expiry are left alone",
        [served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY)],
        [
            ticket("OPS-3", "Upgrade nginx on www.example.com"),
            ticket("OPS-4", "www.example.com + api.example.com"),
        ],
        [],
    ),
    Row(
        "partial observations never move a due date later",
        [*wildcard(SOON, api=False), failed("api.example.com", "192.0.2.11")],
        [marked(due=due_for(SOON) - timedelta(days=5))],
        [("unobserved", "OPS-1")],
    ),
    Row(
        "partial observations still move a due date earlier",
        [*wildcard(SOON, api=False), failed("api.example.com", "192.0.2.11")],
        [marked(due=due_for(SOON) + timedelta(days=5))],
        [("update", "OPS-1"), ("unobserved", "OPS-1")],
    ),
    Row(
        "an endpoint that cannot serve the certificate does not hold its due date back",
        [*wildcard(SOON), failed("www.example.org", "203.0.113.5")],
        [marked(due=due_for(SOON) - timedelta(days=5))],
        [("update", "OPS-1")],
    ),
    Row(
        "a failed host the wildcard covers might serve it: the due date is held back",
        [*wildcard(SOON), failed("new.example.com", "192.0.2.50")],
        [marked(due=due_for(SOON) - timedelta(days=5))],
        [("unobserved", "OPS-1")],
    ),
    Row(
        "a marker ticket whose certificate is served nowhere is reported",
        wildcard(RENEWED),
        [ticket("OPS-5", "Renew old", labels=(MARKER_LABEL, marker_label("f" * 16)))],
        [("unobserved", "OPS-5")],
    ),
    Row(
        "a renewal that changed the name set resolves the old ticket",
        name_set_world(NEW_NAMES, NEW_NAMES),
        [ticket("OPS-6", "Renew a", due=SOON.date(), labels=markers(OLD_NAMES), tracked=(A1, B1))],
        [("resolve", "OPS-6")],
    ),
    Row(
        "a name-set renewal live on some endpoints only keeps the old ticket open",
        name_set_world(NEW_NAMES, OLD_NAMES),
        [
            ticket(
                "OPS-6",
                "Renew a",
                due=due_for(SOON),
                labels=markers(OLD_NAMES),
                tracked=(A1, B1),
            )
        ],
        [],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_decision_table(row: Row) -> None:
    result = decide(inventory(*row.observations), row.tickets, row.policy)
    assert kinds(result) == row.expected
    assert result.writes == sum(
        1 for kind, _ in row.expected if kind not in ("ambiguous", "unobserved")
    )


# -- the incident -----------------------------------------------------------------------------


def test_the_incident_ticket_is_adopted_corrected_and_escalated_never_duplicated() -> None:
    filed = ticket("OPS-12", "Renew *.example.com", due=date(2027, 9, 1), assignee="alice")

    result = decide(incident(), [filed])

    assert kinds(result) == [("update", "OPS-12"), ("escalate", "OPS-12")]
    update, escalate = result.actions
    assert update.fields["duedate"].as_dict() == {"from": "2027-09-01", "to": "2026-11-14"}
    assert update.fields["labels"].after == [MARKER_LABEL, marker_label(W)]
    assert update.edit is not None and update.edit.due_date == date(2026, 11, 14)
    assert update.reason.startswith("its summary names *.example.com")
    assert (
        "due date tracked a certificate that expires 2027-09-22 (www.example.com)" in update.reason
    )
    assert escalate.fields["priority"].after == "Highest"
    assert "@alice" in escalate.reason
    # One comment for the one ticket, carrying the evidence an auditor asks for.
    assert update.comment == escalate.comment
    for evidence in (
        W,
        fingerprint(WILDCARD, WILDCARD_EXPIRY),
        "2026-12-05T21:44:22Z",
        "app.example.com:443@192.0.2.10",
        "api.example.com:443@192.0.2.11",
        "due date: 2027-09-01 -> 2026-11-14",
        "priority: (none) -> Highest",
        "@alice",
    ):
        assert evidence in update.comment


def test_the_incident_as_json_has_specs_shape() -> None:
    filed = ticket("OPS-12", "Renew *.example.com", due=date(2027, 9, 1))
    document = json.loads(decide(incident(), [filed]).to_json())

    assert document["generated_at"] == "2026-11-26T21:30:00Z"
    assert document["summary"]["update"] == 1
    assert document["summary"]["create"] == 0
    action = document["actions"][0]
    assert {"kind", "ticket", "certificate", "fields", "reason"} <= set(action)
    assert action["ticket"] == "OPS-12"
    assert action["fields"]["duedate"] == {"from": "2027-09-01", "to": "2026-11-14"}
    assert set(action["certificate"]) >= {
        "id",
        "names",
        "effective_not_after",
        "fingerprints",
        "endpoints",
    }
    assert action["certificate"]["effective_not_after"] == "2026-12-05T21:44:22Z"


def test_a_stale_load_balancer_node_keeps_the_renewal_open_and_is_named() -> None:
    filed = ticket("OPS-12", "Renew *.example.com", due=date(2027, 9, 1))

    result = decide(incident(stale_node=True), [filed])

    assert ("resolve", "OPS-12") not in kinds(result)
    update = result.actions[0]
    assert update.fields["duedate"].after == "2026-11-14"
    assert (
        "app.example.com:443@192.0.2.12 still serves the certificate expiring 2026-12-05"
        in update.reason
    )


def test_a_renewed_ticket_stays_open_while_one_node_is_stale() -> None:
    tracked = ("app.example.com:443@192.0.2.12", APP, API)
    kept = marked(expiry=WILDCARD_EXPIRY, priority="Highest", tracked=tracked)

    result = decide(incident(stale_node=True), [kept])

    assert kinds(result) == []


# -- time zones -------------------------------------------------------------------------------


def test_the_due_date_follows_the_policy_time_zone() -> None:
    expiry = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
    facts = inventory(*wildcard(expiry))

    in_utc = decide(facts, []).actions[0]
    in_la = decide(facts, [], Policy(timezone="America/Los_Angeles")).actions[0]

    assert in_utc.fields["duedate"].after == "2026-11-14"
    assert in_la.fields["duedate"].after == "2026-11-13"
    assert "America/Los_Angeles" in in_la.comment


# -- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "names"),
    [
        ("Renew *.example.com", WILDCARD),
        ("RENEW *.EXAMPLE.COM before Friday", WILDCARD),
        ("Renew example.com.", WILDCARD),
        ("renew app.example.com (served by the wildcard)", WILDCARD),
        ("renew www.example.com cert", WWW),
        ("https://www.example.com/ shows an old certificate", WWW),
        ("Renew www.example.com.au", None),
        ("Renew wwwXexample.com", None),
        ("Renew the wildcard", None),
    ],
)
def test_summaries_name_certificates_by_whole_names(
    summary: str, names: tuple[str, ...] | None
) -> None:
    facts = inventory(*wildcard(SOON), served("www.example.com", "192.0.2.20", WWW, SOON))
    filed = ticket("OPS-1", summary, due=due_for(SOON))

    result = decide(facts, [filed])

    adopted = [a for a in result.actions if a.kind is ActionKind.UPDATE and a.ticket == "OPS-1"]
    if names is None:
        assert adopted == []
    else:
        assert [a.certificate.id for a in adopted] == [cert_id(names)]
        assert sum(1 for a in result.actions if a.kind is ActionKind.CREATE) == 1


def test_a_marker_wins_over_a_summary_naming_another_certificate() -> None:
    facts = inventory(*wildcard(SOON), served("www.example.com", "192.0.2.20", WWW, SOON))
    mine = ticket("OPS-1", "Renew www.example.com", due=due_for(SOON), labels=markers(WILDCARD))

    result = decide(facts, [mine])

    assert kinds(result) == [("create", None)]
    assert result.actions[0].certificate.id == cert_id(WWW)


# -- creates ----------------------------------------------------------------------------------


def test_a_create_carries_everything_in_one_request() -> None:
    pin = InventoryPin(names=WILDCARD, owner="platform", assignee="alice", lead_days=30)
    facts = inventory(*wildcard(URGENT), pins=[pin])

    create, escalate = decide(facts, []).actions

    new = create.new_ticket
    assert new is not None
    assert new.summary == "Renew TLS certificate *.example.com (+1 name)"
    assert new.labels == (MARKER_LABEL, marker_label(W))
    assert new.due_date == due_for(URGENT, 30)
    assert new.priority == "Highest"
    assert new.assignee == "alice"
    assert new.evidence["endpoints"] == [API, APP]
    assert escalate.ticket is None
    assert "@alice" in create.comment


def test_a_long_summary_fits_in_255_characters() -> None:
    long_name = ".".join(["a" * 60] * 4)
    facts = inventory(served(long_name, "192.0.2.30", (long_name, "b.example.com"), SOON))

    (create,) = decide(facts, []).actions

    assert create.new_ticket is not None
    assert len(create.new_ticket.summary) <= 255
    assert create.new_ticket.summary.endswith("(+1 name)")


# -- the plan as a value ----------------------------------------------------------------------


def test_the_plan_does_not_depend_on_input_order() -> None:
    observations = [
        *wildcard(URGENT),
        served("www.example.com", "192.0.2.20", WWW, SOON),
        failed("api.example.com", "192.0.2.99"),
    ]
    tickets = [
        ticket("OPS-2", "renew www.example.com"),
        ticket("OPS-10", "renew www.example.com", created=NOW),
        marked("OPS-1", expiry=URGENT),
    ]
    forward = decide(inventory(*observations), tickets)
    backward = decide(inventory(*reversed(observations)), list(reversed(tickets)))
    assert forward.to_json() == backward.to_json()


def test_raise_if_unsafe() -> None:
    result = decide(inventory(*wildcard(EXPIRED)), [])
    assert result.writes == 3
    result.raise_if_unsafe(max_changes=3)
    result.raise_if_unsafe(max_changes=1, force=True)
    with pytest.raises(UnsafePlan, match="3 changes"):
        result.raise_if_unsafe(max_changes=2)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decider.decide(inventory(), [], Policy(), datetime(2026, 11, 26))


def test_resolving_a_paged_certificate_resolves_the_page() -> None:
    paged = marked(labels=(*markers(WILDCARD), PAGED_LABEL))

    (resolve,) = decide(inventory(*wildcard(RENEWED_EXPIRY)), [paged]).actions

    assert resolve.kind is ActionKind.RESOLVE
    assert resolve.paged and resolve.page is not None
    assert resolve.page.event == "resolve"
    assert resolve.page.dedup_key == W
    assert fingerprint(WILDCARD, RENEWED_EXPIRY)[:16] in resolve.reason


def test_without_on_call_sinks_nothing_is_paged_and_no_comment_says_so() -> None:
    facts = inventory(*wildcard(EXPIRED))

    result = decider.decide(facts, [], Policy(), NOW, paging=False)

    assert kinds(result) == [("create", None), ("escalate", None)]
    assert "page" not in result.actions[0].comment
