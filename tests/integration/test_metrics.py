"""The textfile the run writes, read back with Prometheus' own exposition-format parser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.builders import (
    NOW,
    RENEWED_EXPIRY,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    WWW_EXPIRY,
    cert_id,
    failed,
    served,
)
from ticketbridge.app import metrics
from ticketbridge.app.metrics import write_metrics
from ticketbridge.app.run import RunOutcome
from ticketbridge.core.apply import ActionResult, ApplyReport
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import ErrorKind, Observation, Verification
from ticketbridge.core.policy import Policy

W, S = cert_id(WILDCARD), cert_id(WWW)


def _samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _outcome(observations: list[Observation], report: ApplyReport | None = None) -> RunOutcome:
    inventory = build_inventory(observations)
    plan = decide(inventory, [], Policy(), NOW)
    return RunOutcome(inventory, plan, report, tuple(observations))


def _world() -> list[Observation]:
    trusted = Verification(trusted=True, hostname_match=True)
    return [
        # The renewal is live on two nodes of three: one still serves the old wildcard.
        replace(
            served("app.example.com", "192.0.2.10", WILDCARD, RENEWED_EXPIRY), verification=trusted
        ),
        replace(
            served("api.example.com", "192.0.2.11", WILDCARD, RENEWED_EXPIRY), verification=trusted
        ),
        replace(
            served("app.example.com", "192.0.2.12", WILDCARD, WILDCARD_EXPIRY), verification=trusted
        ),
        replace(
            served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY),
            verification=Verification(trusted=False, hostname_match=True, error="unknown issuer"),
        ),
        failed("old.example.com", "192.0.2.30", ErrorKind.REFUSED),
    ]


def test_days_left_verdict_spread_and_run_counters(tmp_path: Path) -> None:
    path = tmp_path / "ticketbridge.prom"
    write_metrics(path, _world(), _outcome(_world()), duration=12.5)
    got = _samples(path)
    days = (WILDCARD_EXPIRY - NOW).total_seconds() / 86400
    assert got[
        ("ticketbridge_certificate_days_left", (("id", W), ("name", "*.example.com")))
    ] == round(days, 3)
    assert got[("ticketbridge_certificate_verified", (("id", W),))] == 1
    assert got[("ticketbridge_certificate_verified", (("id", S),))] == 0
    spread = (RENEWED_EXPIRY - WILDCARD_EXPIRY).total_seconds()
    assert got[("ticketbridge_certificate_expiry_spread_seconds", (("id", W),))] == spread
    assert got[("ticketbridge_certificate_expiry_spread_seconds", (("id", S),))] == 0
    stale_node = (("endpoint", "app.example.com:443@192.0.2.12"), ("id", W))
    assert got[("ticketbridge_endpoint_days_left", stale_node)] == round(days, 3)
    assert got[("ticketbridge_probe_failures", (("kind", "refused"),))] == 1
    assert got[("ticketbridge_run_duration_seconds", ())] == 12.5
    assert got[("ticketbridge_last_success_timestamp_seconds", ())] == NOW.timestamp()
    assert got[("ticketbridge_endpoint_series_omitted", ())] == 0


def test_endpoint_series_are_bounded_to_the_soonest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "MAX_ENDPOINT_SERIES", 2)
    path = tmp_path / "ticketbridge.prom"
    write_metrics(path, _world(), _outcome(_world()))
    endpoints = {
        dict(labels)["endpoint"]
        for (name, labels) in _samples(path)
        if name == "ticketbridge_endpoint_days_left"
    }
    soonest = "app.example.com:443@192.0.2.12"
    assert len(endpoints) == 2 and soonest in endpoints
    assert _samples(path)[("ticketbridge_endpoint_series_omitted", ())] == 2


def test_a_failed_run_keeps_the_last_success_it_had(tmp_path: Path) -> None:
    path = tmp_path / "ticketbridge.prom"
    write_metrics(path, _world(), _outcome(_world()))
    first = _samples(path)[("ticketbridge_last_success_timestamp_seconds", ())]
    outcome = _outcome(_world())
    later = replace(outcome, plan=replace(outcome.plan, generated_at=NOW.replace(hour=23)))
    broken = replace(later, report=_failed_report(later))
    write_metrics(path, _world(), broken)
    got = _samples(path)
    assert got[("ticketbridge_last_run_success", ())] == 0
    assert got[("ticketbridge_last_success_timestamp_seconds", ())] == first


def _failed_report(outcome: RunOutcome) -> ApplyReport:
    action = next(action for action in outcome.plan.actions if action.writes)
    return ApplyReport(outcome.plan, (ActionResult(action, applied=False, error="boom"),))
