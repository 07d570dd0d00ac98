"""Write-ahead intents, against the in-memory ticket system and a real log file: a write whose
intent could not be recorded is not made; one whose outcome was lost is settled next run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from support.builders import NOW, WILDCARD, cert_id, inventory, served
from ticketbridge.audit.intents import JournaledTicketSystem, settle_intents, unsettled_intents
from ticketbridge.audit.log import AuditLog, read_records, verify_log
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.errors import AuditLogError
from ticketbridge.testing import InMemoryTicketSystem

SOON = NOW + timedelta(days=5)


def _plan(system: InMemoryTicketSystem) -> Plan:
    facts = inventory(served("app.example.com", "192.0.2.10", WILDCARD, SOON))
    return decide(facts, system.open_tickets(), Policy(), NOW)


def test_no_write_is_made_when_its_intent_cannot_be_recorded(tmp_path: Path) -> None:
    system = InMemoryTicketSystem((), clock=lambda: NOW)
    log_path = tmp_path / "audit.jsonl"
    audit = AuditLog(log_path)
    audit.start_run(config_path="c.toml", backend="memory")
    # The log path now names something else (a planted symlink): the next append is refused.
    log_path.rename(tmp_path / "moved.jsonl")
    log_path.symlink_to(tmp_path / "moved.jsonl")
    with pytest.raises(AuditLogError, match="symlink"):
        apply_plan(_plan(system), JournaledTicketSystem(system, audit), on_result=audit.action)
    assert system.find_by_marker(cert_id(WILDCARD)) == []


def test_an_intent_without_an_outcome_is_settled_by_asking_the_ticket_system(
    tmp_path: Path,
) -> None:
    system = InMemoryTicketSystem((), clock=lambda: NOW)
    log_path = tmp_path / "audit.jsonl"
    first = AuditLog(log_path)
    first.start_run(config_path="c.toml", backend="memory")
    # The run dies between the write and recording its outcome: no on_result, no run_finished.
    apply_plan(_plan(system), JournaledTicketSystem(system, first))
    (created,) = system.find_by_marker(cert_id(WILDCARD))
    assert [i.data["operation"] for i in unsettled_intents(log_path)] == ["create"]

    second = AuditLog(log_path)
    second.start_run(config_path="c.toml", backend="memory")
    assert settle_intents(second, system) == 1
    assert unsettled_intents(log_path) == []
    (resolved,) = [r for r in read_records(log_path) if r["event"] == "intent_resolved"]
    assert [t["key"] for t in resolved["data"]["found"]] == [created.key]
    assert verify_log(log_path).ok
    # Settled once: a third run has nothing left to settle.
    third = AuditLog(log_path)
    third.start_run(config_path="c.toml", backend="memory")
    assert settle_intents(third, system) == 0


def test_an_intent_followed_by_its_outcome_needs_no_settling(tmp_path: Path) -> None:
    system = InMemoryTicketSystem((), clock=lambda: NOW)
    log_path = tmp_path / "audit.jsonl"
    audit = AuditLog(log_path)
    audit.start_run(config_path="c.toml", backend="memory")
    apply_plan(_plan(system), JournaledTicketSystem(system, audit), on_result=audit.action)
    assert unsettled_intents(log_path) == []
