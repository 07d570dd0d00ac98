"""deploy/prometheus: promtool checks the rules and runs their unit tests; they name real metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.written_metrics import metric_names_in, written_metric_names

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: scripts/install.sh --test installs Debian's prometheus")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", "ticketbridge-rules.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_fire_each_alert_when_it_should() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "ticketbridge-rules.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = (RULES / "ticketbridge-rules.test.yml").read_text()
    for alert in (
        "TLSCertificateExpiringSoon",
        "TLSCertificateExpired",
        "TLSRenewalLiveOnSomeEndpointsOnly",
        "TicketbridgeNoSuccessfulRun",
        "TicketbridgeWritesFailing",
    ):
        assert f"alertname: {alert}" in tested


def test_rules_and_their_tests_name_only_metrics_ticketbridge_writes() -> None:
    for name in ("ticketbridge-rules.yml", "ticketbridge-rules.test.yml"):
        named = metric_names_in((RULES / name).read_text())
        assert named, name
        assert named <= written_metric_names(), f"{name}: {sorted(named - written_metric_names())}"
