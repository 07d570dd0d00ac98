"""The audit trail as an auditor meets it: written by reconcile, verified, tamper-evident, reported."""

from __future__ import annotations

import json
from pathlib import Path

from support.certs import Issued
from support.cli import run_cli

from .test_reconcile_cli import WILDCARD_ID, cli, hand_file_the_incident_ticket, workdir  # noqa: F401


def test_reconcile_writes_a_verifiable_trail_and_plan_writes_none(
    workdir: Path,  # noqa: F811 - the fixture imported above
    pki: dict[str, Issued],
) -> None:
    key = hand_file_the_incident_ticket(workdir, pki)
    log = workdir / "ticketbridge-audit.jsonl"

    code, _, err = cli(workdir, "plan")
    assert code == 0, err
    code, _, err = cli(workdir, "reconcile", "--dry-run")
    assert code == 0, err
    assert not log.exists()  # plan and dry runs write nothing anywhere

    for _ in range(2):  # a correcting run, then a converged one
        code, _, err = cli(workdir, "reconcile")
        assert code == 0, err
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["event"] for r in records if r["event"] not in ("action", "intent")] == [
        "run_started", "observed", "planned", "run_finished",
        "run_started", "observed", "planned", "run_finished",
    ]  # fmt: skip
    # Schema 2: each unattended run names its own plan; the converged one plans no writes.
    planned = [r["data"] for r in records if r["event"] == "planned"]
    assert [p["approval"] for p in planned] == ["automatic", "automatic"]
    assert planned[0]["writes"] > 0 and planned[1]["writes"] == 0
    actions = [r["data"] for r in records if r["event"] == "action"]
    assert {a["kind"] for a in actions} == {"update", "escalate"}
    assert all(a["ticket"] == key and a["applied"] for a in actions)
    # The one write of the correcting run was announced, and fsync'd, before it was made.
    events = [r["event"] for r in records]
    assert events.index("intent") < events.index("action")

    code, out, err = cli(workdir, "audit", "verify", "--format", "json")
    assert code == 0, err
    verified = json.loads(out)
    assert verified["verified"] is True and verified["runs"] == 2
    assert verified["records"] == len(records)

    code, out, err = cli(workdir, "report", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["log"]["verified"] is True
    changes = [c for c in report["changes"] if c["kind"] == "update"]
    assert changes and changes[0]["ticket"] == key
    assert any(c["id"] == WILDCARD_ID for c in report["certificates"])

    html = workdir / "report.html"
    code, _, err = cli(workdir, "report", "--output", str(html))
    assert code == 0, err
    assert key in html.read_text(encoding="utf-8")


def test_a_tampered_trail_fails_verification_at_the_edited_line(
    workdir: Path,  # noqa: F811 - the fixture imported above
    pki: dict[str, Issued],
) -> None:
    hand_file_the_incident_ticket(workdir, pki)
    code, _, err = cli(workdir, "reconcile")
    assert code == 0, err
    log = workdir / "ticketbridge-audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if '"event":"action"' in line)
    edited = lines[index].replace('"applied":true', '"applied":false')
    assert edited != lines[index]
    lines[index] = edited
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_cli("audit", "verify", "--log", str(log))
    assert result.returncode == 1
    assert f"line {index + 1}" in result.stdout + result.stderr
    code, out, _ = cli(workdir, "report", "--format", "json")
    # A report over a log that does not verify is still written, and exits 1 (issue 10).
    assert code == 1
    assert json.loads(out)["log"]["verified"] is False
