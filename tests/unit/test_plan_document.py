"""The plan as SPEC's JSON document, whole: every key of an action, its certificate, page and
unobserved endpoints; the order of actions; the counts; the safety gate; the groups per ticket."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from support.builders import NOW, cert_id, endpoint, facts, fingerprint, served
from ticketbridge.core.exceptions import ExceptionStanding, RiskException, Standing
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.plan import (
    Action,
    ActionKind,
    CertificateSummary,
    Change,
    PageEvent,
    Plan,
    ServedEndpoint,
    UnobservedEndpoint,
    natural_key,
)
from ticketbridge.errors import UnsafePlan

WWW = ("www.example.com",)
EXPIRY = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
STRAY_EXPIRY = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def tracked() -> TrackedCert:
    stray = facts(("old-ca.example.net",), STRAY_EXPIRY)
    near = served("www.example.com", "192.0.2.2", WWW, EXPIRY)
    far = replace(
        served("www.example.com", "192.0.2.1", WWW, EXPIRY + timedelta(days=1)),
        strays=(stray, stray),
    )
    return TrackedCert(
        id=cert_id(WWW),
        names=WWW,
        effective_not_after=EXPIRY,
        fingerprints=(fingerprint(WWW, EXPIRY),),
        endpoints=(
            endpoint("www.example.com", "192.0.2.1"),
            endpoint("www.example.com", "192.0.2.2"),
        ),
        observations=(near, far),
    )


def test_a_certificate_summary_lists_what_each_endpoint_served_and_the_strays() -> None:
    summary = CertificateSummary.of(tracked())
    assert summary.as_dict() == {
        "id": cert_id(WWW),
        "names": ["www.example.com"],
        "effective_not_after": "2026-12-24T12:00:00Z",
        "fingerprints": [fingerprint(WWW, EXPIRY)],
        "endpoints": ["www.example.com:443@192.0.2.1", "www.example.com:443@192.0.2.2"],
        "served": [
            {
                "endpoint": "www.example.com:443@192.0.2.1",
                "fingerprint_sha256": fingerprint(WWW, EXPIRY + timedelta(days=1)),
                "effective_not_after": "2026-12-25T12:00:00Z",
            },
            {
                "endpoint": "www.example.com:443@192.0.2.2",
                "fingerprint_sha256": fingerprint(WWW, EXPIRY),
                "effective_not_after": "2026-12-24T12:00:00Z",
            },
        ],
        "strays": [
            {
                "subject": "CN=old-ca.example.net",
                "fingerprint_sha256": fingerprint(("old-ca.example.net",), STRAY_EXPIRY),
                "not_after": "2026-12-01T00:00:00Z",
            }
        ],
    }


def test_a_certificate_known_only_by_its_endpoints_serves_nothing_known() -> None:
    cert = replace(tracked(), observations=())
    summary = CertificateSummary.of(cert)
    assert summary.served == (
        ServedEndpoint("www.example.com:443@192.0.2.1", None, None),
        ServedEndpoint("www.example.com:443@192.0.2.2", None, None),
    )
    assert summary.as_dict()["served"][0] == {
        "endpoint": "www.example.com:443@192.0.2.1",
        "fingerprint_sha256": None,
        "effective_not_after": None,
    }
    assert summary.strays == ()
    assert CertificateSummary("abc").as_dict()["effective_not_after"] is None


def test_a_failed_observation_in_a_certificate_serves_no_fingerprint() -> None:
    cert = replace(
        tracked(),
        observations=(
            replace(served("www.example.com", "192.0.2.1", WWW, EXPIRY), certificate=None),
        ),
    )
    (only,) = CertificateSummary.of(cert).served
    assert only == ServedEndpoint("www.example.com:443@192.0.2.1", None, EXPIRY)


SUMMARY = CertificateSummary(id="c1", names=WWW, effective_not_after=EXPIRY)
SUMMARY_DOC = {
    "id": "c1",
    "names": ["www.example.com"],
    "effective_not_after": "2026-12-24T12:00:00Z",
    "fingerprints": [],
    "endpoints": [],
}


def page(ticket: str | None = None) -> PageEvent:
    return PageEvent(
        "trigger", "tb-c1", "www.example.com expires in 2 days", SUMMARY, ticket=ticket
    )


def test_a_page_learns_its_ticket_and_says_so_once() -> None:
    learned = page().for_ticket("OPS-7", "https://jira.example/browse/OPS-7")
    assert learned == replace(
        page(),
        ticket="OPS-7",
        ticket_url="https://jira.example/browse/OPS-7",
        summary="www.example.com expires in 2 days; renewal ticket OPS-7",
    )
    again = page(ticket="OPS-7").for_ticket("OPS-7", None)
    assert again.summary == "www.example.com expires in 2 days"
    assert again.ticket_url is None
    assert page().severity == "critical"


def test_every_action_key_is_in_the_document() -> None:
    action = Action(
        kind=ActionKind.UPDATE,
        ticket="OPS-7",
        certificate=SUMMARY,
        reason="due date earlier",
        fields={
            "labels": Change(["a"], ["a", "b"]),
            "due_date": Change("2027-01-10", "2026-12-10"),
        },
        comment="evidence",
        page=page("OPS-7"),
        related=(CertificateSummary(id="c2"),),
        unobserved=(UnobservedEndpoint("lb:443@192.0.2.9", "timeout", "timed out"),),
        ticket_url="https://jira.example/browse/OPS-7",
    )
    document = action.as_dict()
    assert list(document["fields"]) == ["due_date", "labels"]
    assert document == {
        "kind": "update",
        "ticket": "OPS-7",
        "certificate": {**SUMMARY_DOC, "served": [], "strays": []},
        "fields": {
            "due_date": {"from": "2027-01-10", "to": "2026-12-10"},
            "labels": {"from": ["a"], "to": ["a", "b"]},
        },
        "reason": "due date earlier",
        "comment": "evidence",
        "ticket_url": "https://jira.example/browse/OPS-7",
        "page": {
            "event": "trigger",
            "dedup_key": "tb-c1",
            "severity": "critical",
            "summary": "www.example.com expires in 2 days",
            "certificate": SUMMARY_DOC,
            "ticket": "OPS-7",
            "ticket_url": None,
        },
        "related": [
            {
                "id": "c2",
                "names": [],
                "effective_not_after": None,
                "fingerprints": [],
                "endpoints": [],
                "served": [],
                "strays": [],
            }
        ],
        "unobserved": [
            {"endpoint": "lb:443@192.0.2.9", "error": "timeout", "message": "timed out"}
        ],
    }


def test_an_action_without_extras_has_no_extra_keys_and_a_null_comment() -> None:
    document = Action(ActionKind.CREATE, None, SUMMARY, "new").as_dict()
    assert document == {
        "kind": "create",
        "ticket": None,
        "certificate": {**SUMMARY_DOC, "served": [], "strays": []},
        "fields": {},
        "reason": "new",
        "comment": None,
        "ticket_url": None,
    }


def action(kind: ActionKind, ticket: str | None, cert: str = "c1", reason: str = "r") -> Action:
    return Action(kind, ticket, CertificateSummary(id=cert), reason)


def test_ticket_keys_sort_by_their_numbers() -> None:
    keys = ["OPS-10", "OPS-9", "ABC-100", "OPS-9a", "OPS-09x"]
    assert sorted(keys, key=natural_key) == ["ABC-100", "OPS-9", "OPS-9a", "OPS-09x", "OPS-10"]
    assert natural_key("OPS-10") == ((1, "OPS-"), (0, 10), (1, ""))


def test_a_plan_orders_actions_by_kind_then_certificate_ticket_and_reason() -> None:
    actions = [
        action(ActionKind.UNOBSERVED, "OPS-1"),
        action(ActionKind.UPDATE, "OPS-10"),
        action(ActionKind.UPDATE, "OPS-9", reason="z"),
        action(ActionKind.UPDATE, "OPS-9", reason="a"),
        action(ActionKind.UPDATE, "OPS-2", cert="c0"),
        action(ActionKind.CREATE, None, cert="c9"),
    ]
    plan = Plan.of(NOW, reversed(actions))
    assert [(a.kind, a.certificate.id, a.ticket, a.reason) for a in plan.actions] == [
        (ActionKind.CREATE, "c9", None, "r"),
        (ActionKind.UPDATE, "c0", "OPS-2", "r"),
        (ActionKind.UPDATE, "c1", "OPS-9", "a"),
        (ActionKind.UPDATE, "c1", "OPS-9", "z"),
        (ActionKind.UPDATE, "c1", "OPS-10", "r"),
        (ActionKind.UNOBSERVED, "c1", "OPS-1", "r"),
    ]


def sample_plan() -> Plan:
    return Plan.of(
        NOW,
        [
            action(ActionKind.CREATE, None, cert="c2"),
            action(ActionKind.UPDATE, "OPS-3"),
            action(ActionKind.PAGE, "OPS-3"),
            action(ActionKind.AMBIGUOUS, "OPS-4"),
            action(ActionKind.UNOBSERVED, "OPS-5"),
            action(ActionKind.UNPLACEABLE, None, cert="c3"),
            action(ActionKind.RESOLVE, "OPS-6"),
        ],
    )


def test_a_plan_counts_each_kind_and_only_the_writes() -> None:
    plan = sample_plan()
    assert plan.summary == {
        "create": 1,
        "update": 1,
        "escalate": 0,
        "page": 1,
        "resolve": 1,
        "reopen": 0,
        "duplicate": 0,
        "ambiguous": 1,
        "unobserved": 1,
        "unplaceable": 1,
    }
    assert plan.writes == 4
    assert plan.empty is False
    report_only = Plan.of(NOW, [action(ActionKind.AMBIGUOUS, "OPS-4")])
    assert (report_only.writes, report_only.empty) == (0, True)


def test_the_safety_gate_allows_exactly_max_changes() -> None:
    plan = sample_plan()
    plan.raise_if_unsafe(4)
    plan.raise_if_unsafe(0, force=True)
    with pytest.raises(UnsafePlan) as raised:
        plan.raise_if_unsafe(3)
    assert (raised.value.writes, raised.value.max_changes) == (4, 3)


def test_groups_are_the_write_actions_per_ticket_in_plan_order() -> None:
    plan = sample_plan()
    assert [(group, [str(a.kind) for a in actions]) for group, actions in plan.groups()] == [
        ("new:c2", ["create"]),
        ("OPS-3", ["update", "page"]),
        ("OPS-6", ["resolve"]),
    ]


def test_the_plan_document_and_its_json() -> None:
    standing = ExceptionStanding(
        RiskException(
            names=WWW,
            id=None,
            reason="vendor appliance",
            approved_by="ciso",
            until=date(2027, 1, 31),
        ),
        Standing.ACTIVE,
    )
    plan = Plan.of(NOW, [action(ActionKind.CREATE, None, reason="é")], [standing])
    document = plan.as_dict()
    assert document["generated_at"] == "2026-11-26T21:30:00Z"
    assert document["writes"] == 1
    assert document["summary"]["create"] == 1
    assert [a["reason"] for a in document["actions"]] == ["é"]
    assert document["exceptions"] == [standing.as_dict()]
    assert json.loads(plan.to_json()) == document
    assert plan.to_json().startswith('{\n  "generated_at"')
    assert '"reason": "é"' in plan.to_json()
    assert plan.to_json(indent=None).startswith('{"generated_at": ')
    assert "exceptions" not in Plan.of(NOW, []).as_dict()
