"""Open create intents and a lagging search index (issue 14): what stays open, what is held back,
what a later run is told was created recently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from support.builders import NOW, WILDCARD, cert_id, inventory, served
from ticketbridge.audit.intents import (
    JournaledTicketSystem,
    recent_creates,
    settle_open_intents,
    unsettled_intents,
)
from ticketbridge.audit.log import AuditLog
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.model import Ticket
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import WriteOutcomeUnknown
from ticketbridge.testing import InMemoryTicketSystem

SOON = NOW + timedelta(days=5)
CID = cert_id(WILDCARD)


class LosesCreateAnswers(InMemoryTicketSystem):
    """Files the ticket, then loses the answer, and (like a lagging index) cannot find it."""

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        super().create(ticket, comment)
        raise WriteOutcomeUnknown("create: the answer was lost")

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        return []


def _plan(system: InMemoryTicketSystem) -> Plan:
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, SOON))
    return decide(facts, system.open_tickets(), Policy(), NOW)


def _run(path: Path, at: datetime) -> AuditLog:
    audit = AuditLog(path, clock=lambda: at)
    audit.start_run(config_path="c.toml", backend="memory")
    return audit


def test_a_create_whose_outcome_is_unknown_stays_an_open_intent(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    audit = _run(log_path, NOW)
    system = LosesCreateAnswers((), clock=lambda: NOW)
    report = apply_plan(_plan(system), JournaledTicketSystem(system, audit), on_result=audit.action)
    assert not report.ok
    assert report.as_dict()["actions"][0]["outcome_unknown"] is True
    assert [i.data["certificate_id"] for i in unsettled_intents(log_path)] == [CID]


@pytest.mark.parametrize(("age", "held"), [(299, True), (301, False)])
def test_an_unseen_create_younger_than_the_lag_is_held(
    tmp_path: Path, age: int, held: bool
) -> None:
    log_path = tmp_path / "audit.jsonl"
    audit = _run(log_path, NOW)
    lost = LosesCreateAnswers((), clock=lambda: NOW)
    apply_plan(_plan(lost), JournaledTicketSystem(lost, audit), on_result=audit.action)

    later = NOW + timedelta(seconds=age)
    second = _run(log_path, later)
    unseen = LosesCreateAnswers((), clock=lambda: later)
    settlement = settle_open_intents(second, unseen, now=later, index_lag=300)
    assert (CID in settlement.held) is held
    assert settlement.settled == (0 if held else 1)
    journaled = JournaledTicketSystem(unseen, second, held=settlement.held)
    report = apply_plan(_plan(unseen), journaled, on_result=second.action)
    errors = [r.error or "" for r in report.results]
    assert any("not created" in e for e in errors) is held


def test_without_a_lag_every_intent_is_settled_at_once(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    audit = _run(log_path, NOW)
    lost = LosesCreateAnswers((), clock=lambda: NOW)
    apply_plan(_plan(lost), JournaledTicketSystem(lost, audit), on_result=audit.action)
    settlement = settle_open_intents(_run(log_path, NOW), lost, now=NOW, index_lag=0)
    assert settlement.held == {} and settlement.settled == 1


def test_recent_creates_are_the_keys_the_trail_recorded_since(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    assert recent_creates(log_path, NOW) == []
    system = InMemoryTicketSystem((), clock=lambda: NOW)
    audit = _run(log_path, NOW)
    apply_plan(_plan(system), JournaledTicketSystem(system, audit), on_result=audit.action)
    (created,) = system.find_by_marker(CID)
    assert recent_creates(log_path, NOW - timedelta(seconds=1)) == [created.key]
    assert recent_creates(log_path, NOW + timedelta(seconds=1)) == []
