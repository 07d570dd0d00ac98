"""`[[exceptions]]` in the decider: within its window no ticket and no page, after it as usual."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from support.builders import (
    NOW,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    cert_id,
    incident,
    inventory,
    markers,
    served,
    ticket,
)
from ticketbridge.core.decide import decide
from ticketbridge.core.exceptions import (
    ExceptionStanding,
    RiskException,
    Standing,
    excepted_ids,
    exception_standings,
)
from ticketbridge.core.plan import ActionKind
from ticketbridge.core.policy import Policy

POLICY = Policy()
TODAY = NOW.date()  # 2026-11-26 in UTC
WILDCARD_ID = cert_id(WILDCARD)


def accepted(
    *, names: tuple[str, ...] = WILDCARD, until: date = TODAY, id: str | None = None
) -> RiskException:
    return RiskException(
        reason="decommissioned 2026-12-15, CHG-4411",
        approved_by="ciso@example.com",
        until=until,
        names=() if id else names,
        id=id,
    )


def kinds_for(plan_actions: object, certificate: str) -> list[str]:
    return [str(a.kind) for a in plan_actions if a.certificate.id == certificate]  # type: ignore[attr-defined]


def test_an_active_exception_plans_no_ticket_and_no_page_for_its_certificate() -> None:
    paging_soon = Policy(page_within_days=10)  # the wildcard expires in 9 days
    baseline = decide(incident(), [], paging_soon, NOW, paging=True)
    assert {"create", "escalate", "page"} <= set(kinds_for(baseline.actions, WILDCARD_ID))
    plan = decide(incident(), [], paging_soon, NOW, paging=True, exceptions=[accepted()])
    assert kinds_for(plan.actions, WILDCARD_ID) == []
    (standing,) = plan.exceptions
    assert standing.standing is Standing.ACTIVE
    assert standing.certificate_ids == (WILDCARD_ID,)
    assert standing.certificate_names == (WILDCARD,)
    assert "until 2026-11-26" in standing.note and "ciso@example.com" in standing.note
    assert plan.as_dict()["exceptions"][0]["standing"] == "active"
    assert "exceptions" not in baseline.as_dict()


def test_an_exception_by_id_covers_that_certificate_only() -> None:
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted(id=WILDCARD_ID)])
    assert kinds_for(plan.actions, WILDCARD_ID) == []
    assert plan.exceptions[0].certificate_ids == (WILDCARD_ID,)
    other = decide(incident(), [], POLICY, NOW, exceptions=[accepted(id="0" * 16)])
    assert "create" in kinds_for(other.actions, WILDCARD_ID)
    assert other.exceptions[0].standing is Standing.UNMATCHED
    assert "id 0000000000000000" in other.exceptions[0].note


def test_part_of_a_name_set_covers_nothing() -> None:
    """`example.com` alone must never exempt the wildcard certificate that also names it."""
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted(names=("Example.COM",))])
    assert "create" in kinds_for(plan.actions, WILDCARD_ID)
    (standing,) = plan.exceptions
    assert standing.standing is Standing.UNMATCHED and standing.certificate_ids == ()
    assert "names no certificate observed" in standing.note and "example.com" in standing.note


def test_names_are_matched_as_a_canonical_set() -> None:
    shuffled = ("EXAMPLE.com", "*.example.com", "example.com")
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted(names=shuffled)])
    assert plan.exceptions[0].standing is Standing.ACTIVE


def test_after_until_the_certificate_is_handled_as_usual_and_the_plan_says_it_ended() -> None:
    ended = accepted(until=TODAY - timedelta(days=1))
    plan = decide(incident(), [], POLICY, NOW, exceptions=[ended])
    actions = [a for a in plan.actions if a.certificate.id == WILDCARD_ID]
    assert [str(a.kind) for a in actions] == ["create", "escalate"]
    (create,) = [a for a in actions if a.kind is ActionKind.CREATE]
    assert "its exception (approved by ciso@example.com" in create.reason
    assert "ended 2026-11-25" in create.reason
    escalate = next(a for a in actions if a.kind is ActionKind.ESCALATE)
    assert "ended" not in escalate.reason  # said once, on the first action
    (standing,) = plan.exceptions
    assert standing.standing is Standing.ENDED and standing.certificate_ids == (WILDCARD_ID,)
    assert standing.note == "exception ended 2026-11-25; handled as usual again"


def test_the_ended_clause_names_approver_reason_and_end_day_after_the_usual_reason() -> None:
    """The SRE reads who accepted the risk, why, and when that ended, appended once to the
    reason the first action would have had anyway."""
    usual = decide(incident(), [], POLICY, NOW)
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted(until=date(2026, 11, 20))])
    before = next(a for a in usual.actions if a.certificate.id == WILDCARD_ID)
    first = next(a for a in plan.actions if a.certificate.id == WILDCARD_ID)
    assert first.kind is before.kind is ActionKind.CREATE
    assert first.reason == (
        f"{before.reason}; its exception (approved by ciso@example.com: "
        "decommissioned 2026-12-15, CHG-4411) ended 2026-11-20"
    )


def test_an_ended_exception_that_covers_nothing_is_ended_not_unmatched() -> None:
    plan = decide(
        incident(), [], POLICY, NOW, exceptions=[accepted(names=("gone.example.com",),
                                                          until=TODAY - timedelta(days=1))]
    )  # fmt: skip
    assert plan.exceptions[0].standing is Standing.ENDED


def test_until_is_the_last_day_in_the_policy_time_zone() -> None:
    # 21:30 UTC on the 26th is already the 27th in Kiritimati (UTC+14).
    east = Policy(timezone="Pacific/Kiritimati")
    plan = decide(incident(), [], east, NOW, exceptions=[accepted(until=TODAY)])
    assert plan.exceptions[0].standing is Standing.ENDED
    assert "create" in kinds_for(plan.actions, WILDCARD_ID)
    same_day = decide(incident(), [], POLICY, NOW, exceptions=[accepted(until=TODAY)])
    assert same_day.exceptions[0].standing is Standing.ACTIVE


def test_an_active_exception_leaves_an_existing_ticket_untouched() -> None:
    wrong_due = ticket("OPS-1", due=date(2027, 9, 1), labels=markers(WILDCARD))
    baseline = decide(incident(), [wrong_due], POLICY, NOW)
    assert {"update", "escalate"} <= set(kinds_for(baseline.actions, WILDCARD_ID))
    plan = decide(incident(), [wrong_due], POLICY, NOW, exceptions=[accepted()])
    assert kinds_for(plan.actions, WILDCARD_ID) == []


def test_an_exception_for_a_certificate_beyond_the_horizon_is_active_and_changes_nothing() -> None:
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted(names=WWW)])
    assert plan.exceptions[0].standing is Standing.ACTIVE
    assert [a.kind for a in plan.actions] == [
        a.kind for a in decide(incident(), [], POLICY, NOW).actions
    ]


def test_an_ended_exception_on_a_converged_certificate_annotates_nothing() -> None:
    # A certificate within the horizon whose ticket already matches: no action to annotate.
    only_wildcard = inventory(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    first = decide(only_wildcard, [], POLICY, NOW)
    create = next(a for a in first.actions if a.kind is ActionKind.CREATE)
    assert create.new_ticket is not None
    current = ticket(
        "OPS-1", due=create.new_ticket.due_date, labels=markers(WILDCARD), priority="Highest"
    )
    plan = decide(
        only_wildcard, [current], POLICY, NOW, exceptions=[accepted(until=TODAY - timedelta(1))]
    )
    assert kinds_for(plan.actions, WILDCARD_ID) == []
    assert plan.exceptions[0].standing is Standing.ENDED


def test_an_ended_exception_for_another_certificate_annotates_nothing() -> None:
    plan = decide(
        incident(), [], POLICY, NOW, exceptions=[accepted(names=WWW, until=TODAY - timedelta(1))]
    )
    assert all("exception" not in a.reason for a in plan.actions)


@pytest.mark.parametrize(
    ("standing", "excepted"),
    [(Standing.ACTIVE, {WILDCARD_ID}), (Standing.ENDED, set()), (Standing.UNMATCHED, set())],
)
def test_only_an_active_exception_holds_back_writes(standing: Standing, excepted: set[str]) -> None:
    entry = ExceptionStanding(accepted(), standing, (WILDCARD_ID,), (WILDCARD,))
    assert excepted_ids([entry]) == excepted


def test_an_entry_with_neither_names_nor_id_covers_nothing() -> None:
    empty = RiskException(reason="r", approved_by="a", until=TODAY)
    facts = incident()
    certs = {cert.id: cert for cert in facts.certificates}
    (standing,) = exception_standings([empty], certs, POLICY, NOW)
    assert standing.standing is Standing.UNMATCHED


def test_the_standing_as_a_plan_reports_it() -> None:
    plan = decide(incident(), [], POLICY, NOW, exceptions=[accepted()])
    assert plan.as_dict()["exceptions"] == [
        {
            "standing": "active",
            "names": list(WILDCARD),
            "id": None,
            "reason": "decommissioned 2026-12-15, CHG-4411",
            "approved_by": "ciso@example.com",
            "until": "2026-11-26",
            "certificates": [WILDCARD_ID],
            "note": plan.exceptions[0].note,
        }
    ]


def test_two_ended_exceptions_for_one_certificate_are_said_once() -> None:
    first = accepted(until=TODAY - timedelta(days=3))
    second = accepted(until=TODAY - timedelta(days=1), id=WILDCARD_ID)
    plan = decide(incident(), [], POLICY, NOW, exceptions=[first, second])
    create = next(a for a in plan.actions if a.kind is ActionKind.CREATE)
    assert create.reason.count("its exception") == 1 and "ended 2026-11-23" in create.reason
    assert [s.standing for s in plan.exceptions] == [Standing.ENDED, Standing.ENDED]
