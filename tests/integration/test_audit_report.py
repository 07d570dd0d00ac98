"""The compliance report from a log written by real runs: every format, windows, tampering."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from support.builders import NOW, WILDCARD, WILDCARD_EXPIRY, cert_id, inventory, served
from ticketbridge.audit.formats import render
from ticketbridge.audit.log import AuditLog, verify_log
from ticketbridge.audit.report import Report, build_report
from ticketbridge.cli.tables import render_verification
from ticketbridge.core.apply import apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.policy import Policy
from ticketbridge.testing import InMemoryTicketSystem

# Certificate names are whatever a server chose to send: these are chosen to hurt.
SCRIPT = ('<script>alert("x")</script>.example.com',)
FORMULA = ('=hyperlink("http://evil.example/","click")',)
MARKDOWN = ("a|b*c_d`e[x](javascript:alert(1)).example.com",)
RTL = ("evil\u202emoc.example.com",)
HOSTILE = (SCRIPT, FORMULA, MARKDOWN, RTL)

FIRST_DAY = NOW  # 2026-11-26
SECOND_DAY = NOW + timedelta(days=2)  # 2026-11-28
SOON = NOW + timedelta(days=20)
RENEWED = NOW + timedelta(days=300)


def first_facts() -> Inventory:
    return inventory(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        *(
            served(f"h{n}.example.com", f"192.0.2.{30 + n}", names, SOON)
            for n, names in enumerate(HOSTILE)
        ),
    )


def second_facts() -> Inventory:
    """The hostile certificates were renewed; the wildcard still was not."""
    return inventory(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        *(
            served(f"h{n}.example.com", f"192.0.2.{30 + n}", names, RENEWED)
            for n, names in enumerate(HOSTILE)
        ),
    )


def audited_run(path: Path, system: InMemoryTicketSystem, facts: Inventory, now: datetime) -> None:
    """What the service does around a reconcile, with the real AuditLog."""
    log = AuditLog(path, clock=lambda: now)
    log.start_run(config_path="/etc/ticketbridge.toml", backend="local")
    log.observed(facts)
    decided = decide(facts, system.open_tickets(), Policy(), now, paging=False)
    report = apply_plan(decided, system, on_result=log.action)
    log.finish_run(report, exit_code=0 if report.ok else 1)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "ticketbridge-audit.jsonl"
    clock = {"now": FIRST_DAY}
    system = InMemoryTicketSystem(clock=lambda: clock["now"])
    # The ticket system refuses one write in the first run: a failure the report must show.
    system.fail_on_write(2)
    audited_run(path, system, first_facts(), FIRST_DAY)
    clock["now"] = SECOND_DAY
    audited_run(path, system, second_facts(), SECOND_DAY)
    return path


def report_of(path: Path, since: date | None = None, until: date | None = None) -> Report:
    return build_report(path, since, until, now=SECOND_DAY + timedelta(hours=1))


def as_json(report: Report) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(report, "json"))
    return document


def test_json_has_the_stable_shape_and_what_happened(log_path: Path) -> None:
    document = as_json(report_of(log_path))

    assert set(document) == {
        "generated_at",
        "window",
        "log",
        "runs",
        "changes",
        "failures",
        "certificates",
        "policy",
        "approvals",
        "operation",
        "never_observed",
        "hsts",
        "statuses",
        "exceptions",
    }
    assert document["generated_at"] == "2026-11-28T22:30:00Z"
    assert document["window"] == {"since": None, "until": None}
    log = document["log"]
    assert log["verified"] is True and log["problem"] is None
    assert log["head"] == verify_log(log_path).head and log["runs"] == 2
    assert log["path"] == str(log_path) and log["records"] > 4

    first, second = document["runs"]
    assert first["started"] == "2026-11-26T21:30:00Z" and first["exit_code"] == 1
    assert first["failed"] == 2 and first["host"] and first["backend"] == "local"
    assert second["exit_code"] == 0 and second["finished"] == "2026-11-28T21:30:00Z"

    kinds = [(change["kind"], change["applied"]) for change in document["changes"]]
    # The wildcard's create was refused on the first day and retried on the second.
    assert kinds.count(("create", True)) == 5
    assert kinds.count(("create", False)) == 1
    assert kinds.count(("resolve", True)) == 4
    resolve = next(c for c in document["changes"] if c["kind"] == "resolve")
    assert resolve["time"] == "2026-11-28T21:30:00Z" and resolve["ticket"]
    assert resolve["certificate"]["names"] and resolve["reason"]

    action_failures = [f for f in document["failures"] if f["kind"] != "run"]
    # The escalation rode on the refused create: both failed together.
    assert sorted(f["kind"] for f in action_failures) == ["create", "escalate"]
    assert all("injected failure" in f["error"] for f in action_failures)
    assert all(f["certificate"]["id"] == cert_id(WILDCARD) for f in action_failures)
    run_failures = [f for f in document["failures"] if f["kind"] == "run"]
    assert [f["run"] for f in run_failures] == [first["run"]]

    by_id = {cert["id"]: cert for cert in document["certificates"]}
    wildcard = by_id[cert_id(WILDCARD)]
    assert wildcard["effective_not_after"] == "2026-12-05T21:44:22Z"
    assert wildcard["endpoints"] == ["app.example.com:443@192.0.2.10"]
    assert wildcard["observed_at"] == "2026-11-28T21:30:00Z"
    assert wildcard["ticket"] is not None  # created in the second run, still open
    renewed = [by_id[cert_id(names)] for names in HOSTILE]
    assert all(cert["effective_not_after"] == "2027-09-22T21:30:00Z" for cert in renewed)
    # Resolved tickets are no longer open.
    assert all(cert["ticket"] is None for cert in renewed)


def test_the_window_is_inclusive_utc_dates(log_path: Path) -> None:
    only_first = as_json(report_of(log_path, date(2026, 11, 26), date(2026, 11, 26)))
    assert len(only_first["runs"]) == 1 and only_first["runs"][0]["exit_code"] == 1
    assert "create" in {c["kind"] for c in only_first["changes"]}
    assert all(c["time"].startswith("2026-11-26") for c in only_first["changes"])
    soon = [c for c in only_first["certificates"] if c["id"] == cert_id(SCRIPT)]
    assert soon[0]["effective_not_after"] == "2026-12-16T21:30:00Z"
    # As of the end of the window, the ticket was still open.
    assert soon[0]["ticket"] is not None
    (wildcard,) = [c for c in only_first["certificates"] if c["id"] == cert_id(WILDCARD)]
    assert wildcard["ticket"] is None  # its create was refused

    only_second = as_json(report_of(log_path, since=date(2026, 11, 27)))
    assert only_second["window"] == {"since": "2026-11-27", "until": None}
    assert len(only_second["runs"]) == 1 and only_second["runs"][0]["exit_code"] == 0
    assert {c["kind"] for c in only_second["changes"]} == {"create", "escalate", "resolve"}
    assert only_second["failures"] == []

    between = as_json(report_of(log_path, date(2026, 11, 27), date(2026, 11, 27)))
    assert between["runs"] == between["changes"] == between["certificates"] == []
    # The log is verified as a whole, whatever the window.
    assert between["log"]["verified"] is True and between["log"]["runs"] == 2


def test_html_is_self_contained_and_hostile_names_come_out_inert(log_path: Path) -> None:
    page = render(report_of(log_path), "html")

    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;.example.com" in page
    assert "\u202e" not in page and "evil\\u202emoc.example.com" in page
    assert "javascript:alert(1)" in page  # as text only: nothing makes it a link
    assert "<a " not in page and "href" not in page and " src=" not in page
    assert "@import" not in page and "url(" not in page
    assert "default-src &#39;none&#39;" not in page  # the CSP itself is not escaped
    assert "default-src 'none'" in page
    head = verify_log(log_path).head
    assert head is not None and head in page and "verified" in page


def test_csv_has_one_row_per_change_and_no_formula_can_run(log_path: Path) -> None:
    report = report_of(log_path)
    rows = list(csv.reader(io.StringIO(render(report, "csv"))))

    header, *body = rows
    assert header[:5] == ["time", "run", "kind", "ticket", "certificate_id"]
    assert len(body) == len(report.changes)
    for row in body:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    formula_rows = [row for row in body if row[4] == cert_id(FORMULA)]
    assert formula_rows
    assert all(row[5] == "'" + FORMULA[0] for row in formula_rows)
    assert all("\u202e" not in cell for row in body for cell in row)


def test_markdown_cells_cannot_break_the_table_or_format(log_path: Path) -> None:
    text = render(report_of(log_path), "md")

    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "a\\|b\\*c\\_d\\`e\\[x\\](javascript:alert(1)).example.com" in text
    assert "\u202e" not in text
    # Every row of a table has as many cell separators as its header.
    expected = None
    for line in text.splitlines():
        if not line.startswith("|"):
            expected = None
            continue
        separators = line.replace("\\|", "").count("|")
        expected = expected or separators
        assert separators == expected, line


def test_a_tampered_log_yields_a_report_that_says_so(log_path: Path) -> None:
    content = log_path.read_bytes().splitlines(keepends=True)
    record = json.loads(content[2])
    record["data"]["certificates"] = []
    content[2] = json.dumps(record).encode() + b"\n"
    log_path.write_bytes(b"".join(content))

    report = report_of(log_path)

    document = as_json(report)
    assert document["log"]["verified"] is False
    assert document["log"]["problem"].startswith("line 3: ")
    assert "NOT VERIFIED" in render(report, "html") and "line 3" in render(report, "html")
    assert "**NOT VERIFIED**: line 3" in render(report, "md")
    # What the log holds is still shown, for the auditor to weigh.
    assert document["runs"] and document["changes"]


def test_a_missing_log_is_a_report_of_nothing_verified(tmp_path: Path) -> None:
    document = as_json(report_of(tmp_path / "absent.jsonl"))
    assert document["log"]["verified"] is False
    assert "does not exist" in document["log"]["problem"]
    assert document["runs"] == document["changes"] == []


def test_verification_renders_for_the_terminal(log_path: Path) -> None:
    console = Console(width=120, record=True, color_system=None)
    console.print(render_verification(verify_log(log_path)))
    text = console.export_text()
    assert "verified" in text and "NOT" not in text
    assert str(verify_log(log_path).head) in text


def test_an_unknown_format_is_refused(log_path: Path) -> None:
    with pytest.raises(ValueError, match="html, md, csv, json"):
        render(report_of(log_path), "pdf")
