"""What the report says from what the log holds: approvals, statuses, gaps, unobserved endpoints, HSTS."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from support.biglog import ChainWriter
from ticketbridge.audit.formats import render
from ticketbridge.audit.log import verify_log
from ticketbridge.audit.report import DEFAULT_WINDOW_DAYS, Report, build_report, default_since

DAY = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
POLICY = {"lead_days": 30, "ticket_horizon_days": 60, "escalate_within_days": 10,
          "page_within_days": 2, "timezone": "Europe/Paris"}  # fmt: skip
# The shape the plans branch records (SPEC: "the audit trail records plan_id and --approved-by
# with the run"): read from any of the run's records, `automatic` when absent.
PLAN_ID = "9f" * 32
OWN_PLAN = "0a" * 32  # an unattended run's own plan: it names the writes, nobody approved it
STALE_PLAN = "5e" * 32
HSTS = {"present": True, "max_age": 31536000, "include_subdomains": True, "preload": False,
        "status": 200, "error": None}  # fmt: skip


def certificate(ident: str, expiry: str, *endpoints: str) -> dict[str, Any]:
    return {"id": ident, "names": [f"{ident}.example.com"], "effective_not_after": expiry,
            "fingerprints": ["ab" * 32], "endpoints": list(endpoints)}  # fmt: skip


def action(kind: str, ident: str, ticket: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "ticket": ticket, "certificate": {"id": ident, "names": [ident]},
            "fields": fields, "reason": f"{kind} because", "applied": True, "error": None}  # fmt: skip


def write_runs(
    path: Path, runs: Iterable[tuple[datetime, list[tuple[str, dict[str, Any]]]]]
) -> None:
    with path.open("wb") as handle:
        writer = ChainWriter(handle)
        for number, (moment, records) in enumerate(runs):
            for event, data in records:
                writer.write(moment, f"run{number}", event, data)


def a_run(
    observed: dict[str, Any],
    *actions: dict[str, Any],
    started: dict[str, Any] | None = None,
    exceptions: tuple[dict[str, Any], ...] = (),
) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("run_started", {"version": "1", "config_path": "c.toml", "backend": "local",
                         "host": "h", **(started or {})}),
        ("observed", observed),
        *(("exception", data) for data in exceptions),
        *(("action", data) for data in actions),
        ("run_finished", {"summary": {}, "applied": len(actions), "failed": 0, "exit_code": 0}),
    ]  # fmt: skip


def approval(approved_by: str | None, plan_id: str) -> dict[str, Any]:
    """Schema 2's approval fields, on run_started, action and run_finished alike."""
    mode = "approved" if approved_by else "automatic"
    return {"approval": mode, "approved_by": approved_by, "plan_id": plan_id}


def risk(standing: str) -> dict[str, Any]:
    """An `[[exceptions]]` entry's standing as a run records it (schema 2 `exception`)."""
    return {"standing": standing, "names": ["legacy.example.com"], "id": None,
            "reason": "decommissioned 2026-11-25, CHG-4411", "approved_by": "risk@example.com",
            "until": "2026-11-24", "certificates": [{"id": "legacy", "names": ["legacy"]}]}  # fmt: skip


def history(path: Path) -> None:
    """Six days of a daily job that stopped for three days; one approved plan applied, one
    refused as stale."""
    wild = certificate("wild", "2026-11-24T12:00:00Z", "app:443@192.0.2.1")
    www = certificate("www", "2027-09-01T12:00:00Z", "www:443@192.0.2.2")
    old = certificate("old", "2026-12-01T12:00:00Z", "old:443@192.0.2.3")
    legacy = certificate("legacy", "2026-12-10T12:00:00Z", "legacy:443@192.0.2.4")
    down = {"endpoint": "down:443@192.0.2.9", "kind": "refused", "message": "connection refused"}
    flaky = {"endpoint": "www:443@192.0.2.2", "kind": "timeout", "message": "timed out"}
    due = {"from": "2027-08-02", "to": "2026-10-25"}
    automatic, approved = approval(None, OWN_PLAN), approval("ciso@example.com", PLAN_ID)
    stale = approval("ops@example.com", STALE_PLAN)
    write_runs(
        path,
        [
            (DAY, a_run({"certificates": [wild, old, legacy], "unobserved": [down, flaky]},
                        {**action("update", "wild", "OPS-1", duedate=due), **automatic},
                        started={"policy": {**POLICY, "lead_days": 21}, **automatic},
                        exceptions=(risk("active"),))),
            (DAY + timedelta(days=1), a_run(
                {"certificates": [wild, www, legacy], "unobserved": [down],
                 "hsts": [{"endpoint": "app:443@192.0.2.1", **HSTS}]},
                {**action("escalate", "wild", "OPS-1"), **approved},
                {**action("page", "wild", "OPS-1"), **approved},
                started={"policy": POLICY, **approved})),
            (DAY + timedelta(days=1, hours=1), [
                ("run_started", {"version": "1", "config_path": "c.toml", "backend": "local",
                                 "host": "h", "policy": POLICY, **stale}),
                ("plan_stale", {**stale, "fresh_plan_id": "cd" * 32,
                                "reasons": ["wild: effective expiry moved"]}),
                ("run_finished", {"summary": None, "applied": 0, "failed": 0, "exit_code": 6,
                                  **stale}),
            ]),
            (DAY + timedelta(days=5), a_run(
                {"certificates": [wild, www, legacy], "unobserved": [down],
                 "hsts": [{"endpoint": "www:443@192.0.2.2", **HSTS, "present": False,
                           "error": {"kind": "timeout", "message": "no answer to HEAD /"}}]},
                started={"policy": POLICY, **automatic}, exceptions=(risk("ended"),))),
        ],
    )  # fmt: skip


def report_of(path: Path, **options: Any) -> Report:
    return build_report(
        path, date(2026, 11, 20), date(2026, 11, 26), DAY + timedelta(days=7), **options
    )


def test_changes_name_their_plan_and_approver_or_say_automatic(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    report = report_of(path)

    by_kind = {change["kind"]: change for change in report.changes}
    assert by_kind["update"]["approved_by"] == "automatic"
    assert by_kind["update"]["plan_id"] == OWN_PLAN
    assert by_kind["page"]["plan_id"] == PLAN_ID
    assert by_kind["page"]["approved_by"] == "ciso@example.com"
    # Approvals: the applied plan and the refused one, with why; never the automatic runs.
    applied, refused = report.approvals
    assert (applied["approved_by"], applied["plan_id"], applied["outcome"]) == (
        "ciso@example.com", PLAN_ID, "applied")  # fmt: skip
    assert refused["plan_id"] == STALE_PLAN and refused["outcome"].startswith("refused")
    assert "wild: effective expiry moved" in refused["outcome"]

    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert {row["approved_by"] for row in rows} == {"automatic", "ciso@example.com"}
    assert {row["plan_id"] for row in rows if row["kind"] == "page"} == {PLAN_ID}
    markdown, html = render(report, "md"), render(report, "html")
    for text in (markdown, html):
        assert f"plan {PLAN_ID} approved by ciso@example.com" in text
        assert f"automatic (plan {OWN_PLAN})" in text
        assert "wild: effective expiry moved" in text


def test_each_certificate_has_the_status_of_what_the_control_did(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    report = report_of(path)

    status = {cert["id"]: cert["status"] for cert in report.certificates}
    # Paged outranks escalated and corrected; an exception is reported, not ticketed; `old`
    # was not served in the last run; `www` needed nothing.
    assert status == {"wild": "paged", "legacy": "exception", "old": "unobserved",
                      "www": "compliant"}  # fmt: skip
    wild = next(cert for cert in report.certificates if cert["id"] == "wild")
    assert (wild["due_date"], wild["due_date_before"]) == ("2026-10-25", "2027-08-02")
    statuses = json.loads(render(report, "json"))["statuses"]
    assert statuses["paged"] == 1 and statuses["compliant"] == 1 and statuses["created"] == 0


def test_gaps_longer_than_the_schedule_and_idle_days_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    report = report_of(path, schedule_hours=24)

    operation = report.operation
    assert operation["runs"] == 4 and len(operation["days"]) == 7
    assert operation["days_without_runs"] == 4  # 22, 23, 24, 26 November
    assert [day["runs"] for day in operation["days"]] == [1, 2, 0, 0, 0, 1, 0]
    gaps = [(gap["from"], gap["to"]) for gap in operation["gaps"]]
    assert ("2026-11-21T03:00:00Z", "2026-11-25T02:00:00Z") in gaps
    # The last run to the end of the window (the 26th, inclusive) is a gap of 46 hours too.
    assert ("2026-11-25T02:00:00Z", "2026-11-27T00:00:00Z") in gaps
    assert all(gap["hours"] > 24 for gap in operation["gaps"])
    weekly = report_of(path, schedule_hours=24 * 7)
    assert weekly.operation["gaps"] == []


def test_endpoints_never_observed_and_hsts_per_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    report = report_of(path)

    # www timed out once, then served: it was observed. `down` never answered.
    assert [e["endpoint"] for e in report.never_observed] == ["down:443@192.0.2.9"]
    assert report.never_observed[0]["probes"] == 3  # the refused run observed nothing
    assert report.never_observed[0]["kind"] == "refused"
    hsts = {entry["endpoint"]: entry["hsts"] for entry in report.hsts}
    assert hsts["app:443@192.0.2.1"] == HSTS
    assert hsts["www:443@192.0.2.2"] is not None and hsts["www:443@192.0.2.2"]["present"] is False
    assert hsts["old:443@192.0.2.3"] is None
    html = render(report, "html")
    assert "not probed" in html and "31536000" in html
    assert "error: timeout: no answer to HEAD /" in html
    assert "| old:443@192.0.2.3 | not probed |" in render(report, "md")


def test_the_policy_in_force_is_the_one_the_last_run_recorded(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    configured = {**POLICY, "lead_days": 99}

    recorded = report_of(path, policy=configured).policy
    assert recorded["lead_days"] == 30 and recorded["timezone"] == "Europe/Paris"
    assert recorded["source"].startswith("recorded by")
    statement = render(report_of(path), "md")
    assert "due 30 days before" in statement and "within 60 days" in statement

    write_runs(path, [(DAY, a_run({"certificates": [], "unobserved": []}))])
    from_config = report_of(path, policy=configured).policy
    assert from_config["lead_days"] == 99 and from_config["source"].startswith("the configuration")
    assert verify_log(path).ok


def test_the_default_window_is_the_last_ninety_days() -> None:
    assert DEFAULT_WINDOW_DAYS == 90
    assert default_since(None, date(2026, 12, 31)) == date(2026, 10, 3)
    assert default_since(date(2026, 3, 31), date(2026, 12, 31)) == date(2026, 1, 1)


def test_exceptions_show_who_accepted_the_risk_and_when_it_ended(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    history(path)
    report = report_of(path)

    (entry,) = report.exceptions
    assert entry["approved_by"] == "risk@example.com" and entry["until"] == "2026-11-24"
    assert entry["standing"] == "ended" and entry["ended"] == "2026-11-25T02:00:00Z"
    assert entry["certificates"] == ["legacy"]
    # The run that recorded the exception was not approved by the exception's approver.
    first = report.runs[0]
    assert first["approved_by"] is None
    assert [a["approved_by"] for a in report.approvals] == ["ciso@example.com", "ops@example.com"]
    for text in (render(report, "md"), render(report, "html")):
        assert "decommissioned 2026-11-25, CHG-4411" in text and "risk@example.com" in text
