"""The compliance report written out: html (Jinja, autoescaped), Markdown, CSV and JSON.

Certificate text comes from whoever runs the server, and ticket text from whoever edits the
ticket: every cell is hostile, and passes through `infra.escape` before its format's escaping.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from ticketbridge.audit.report import Report
from ticketbridge.audit.timeline import expiry_chart, runs_chart
from ticketbridge.core.timefmt import iso_z
from ticketbridge.infra.escape import csv_cell, inert, markdown_cell

__all__ = ["FORMATS", "Format", "render"]

Format = Literal["html", "md", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "md", "csv", "json")


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value)


def fields_text(fields: Mapping[str, Any]) -> str:
    """`duedate: 2027-09-01 → 2026-11-14; labels: (none) → tb-…`."""
    parts = []
    for name, change in sorted(fields.items()):
        if isinstance(change, Mapping):
            parts.append(f"{name}: {_value(change.get('from'))} → {_value(change.get('to'))}")
    return "; ".join(parts)


def outcome_text(entry: Mapping[str, Any]) -> str:
    prefix = "" if entry.get("verified", True) else "UNVERIFIED (at or after the break): "
    if entry.get("error"):
        return f"{prefix}failed: {entry['error']}"
    if entry.get("applied") is None:
        return f"{prefix}outcome not recorded"
    return prefix + ("applied" if entry.get("applied") else "not applied")


def window_text(report: Report) -> str:
    since = report.since.isoformat() if report.since else "the first record"
    until = report.until.isoformat() if report.until else "the last record"
    return f"{since} to {until} (inclusive, UTC)"


# The policy keys the report states, and how it names them.
POLICY_LABELS = (
    ("lead_days", "Lead time (days before expiry a ticket is due)"),
    ("ticket_horizon_days", "Ticket horizon (days)"),
    ("escalate_within_days", "Escalate within (days)"),
    ("page_within_days", "Page within (days)"),
    ("timezone", "Timezone of due dates"),
    ("keep_earlier_due_date", "Keep an earlier due date"),
    ("resolve_on_renewal", "Resolve on renewal"),
    ("max_changes", "Most writes per run without --force"),
)


def control_statement(report: Report) -> str:
    """What the control is, in the terms of the policy in force: what an auditor tests against."""
    policy = report.policy

    def value(key: str) -> str:
        return str(policy.get(key, "(not recorded)"))

    return (
        "ticketbridge probes every configured endpoint, groups the endpoints by the certificate "
        "each actually serves, and keeps one open change ticket per certificate that expires "
        f"within {value('ticket_horizon_days')} days, due {value('lead_days')} days before the "
        "earliest expiry on any endpoint serving it (dates in "
        f"{value('timezone')}). It escalates within {value('escalate_within_days')} days of "
        f"expiry, pages on-call within {value('page_within_days')}, and resolves the ticket only "
        "when every endpoint serves the renewal. Every run and every write is recorded before "
        "and after it is made in a hash-chained audit log; this report is built from that log "
        f"for {window_text(report)}."
    )


def approval_text(change: Mapping[str, Any]) -> str:
    """`automatic`, or the saved plan applied and who approved it."""
    approver, plan = change.get("approved_by"), change.get("plan_id")
    if approver and approver != "automatic":
        return f"plan {plan} approved by {approver}" if plan else f"approved by {approver}"
    # An unattended run's own plan id still names exactly what it wrote.
    return f"automatic (plan {plan})" if plan else "automatic"


def hsts_text(hsts: Mapping[str, Any] | None) -> str:
    """`present`, `absent`, `error: …` or `not probed`: the HSTS column in every format."""
    if not hsts:
        return "not probed"
    error = hsts.get("error")
    if isinstance(error, Mapping):  # {"kind", "message"}, as observations classify errors
        return f"error: {error.get('kind')}: {error.get('message')}"
    if error:
        return f"error: {error}"
    return "present" if hsts.get("present") else "absent"


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("ticketbridge.audit", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        # Every expression passes through `inert` before escaping: no cell can be forgotten.
        finalize=inert,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["fields_text"] = fields_text
    environment.filters["outcome"] = outcome_text
    environment.filters["hsts_text"] = hsts_text
    environment.filters["approval"] = approval_text
    return environment


def render_html(report: Report) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        window=window_text(report),
        statement=control_statement(report),
        policy_labels=POLICY_LABELS,
        expiry_chart=expiry_chart(report.certificates, report.policy, report.generated_at),
        runs_chart=runs_chart(report.operation),
    )


def _md(value: Any) -> str:
    return markdown_cell(value).replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def _md_table(headers: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
    if len(lines) == 2:
        lines.append("| " + " | ".join(["—"] * len(headers)) + " |")
    return lines


def _md_heading(report: Report) -> list[str]:
    log = report.log
    verdict = "**verified**" if log.ok else f"**NOT VERIFIED**: {_md(log.problem)}"
    return [
        "# ticketbridge audit report",
        "",
        f"- Generated: {iso_z(report.generated_at)}",
        f"- Window: {window_text(report)}",
        f"- Audit log: {_md(log.path)}",
        f"- Hash chain: {verdict}",
        f"- Head hash: `{_md(log.head or '(none)')}`",
        f"- Records verified: {log.records}; runs: {log.runs}",
        "",
    ]


def render_md(report: Report) -> str:
    operation = report.operation
    lines = [
        *_md_heading(report),
        "## Control statement",
        "",
        _md(control_statement(report)),
        "",
        "## Policy in force",
        "",
        *(
            f"- {label}: {_md(report.policy.get(key, 'not recorded'))}"
            for key, label in POLICY_LABELS
        ),
        f"- Source: {_md(report.policy.get('source', 'unknown'))}",
        "",
        *_md_approvals(report),
        "## When the control operated",
        "",
        f"- Runs: {operation.get('runs', 0)} over {len(operation.get('days') or [])} days; "
        f"days without a run: {operation.get('days_without_runs', 0)}",
        f"- Schedule: every {_md(operation.get('schedule_hours') or '?')} h; "
        f"longer gaps: {len(operation.get('gaps') or [])}",
        "",
        *_md_section(
            f"Gaps ({len(operation.get('gaps') or [])})", _GAP_COLUMNS, operation.get("gaps") or []
        ),
        *_md_section(f"Runs ({len(report.runs)})", _RUN_COLUMNS, report.runs),
        "## Inventory status",
        "",
        "; ".join(f"{status}: {count}" for status, count in report.statuses().items()),
        "",
        *_md_section(
            f"Certificates last observed in the window ({len(report.certificates)})",
            _CERTIFICATE_COLUMNS,
            report.certificates,
        ),
        *_md_section(f"Changes ({len(report.changes)})", _CHANGE_COLUMNS, report.changes),
        *_md_section(f"Failures ({len(report.failures)})", _FAILURE_COLUMNS, report.failures),
        *_md_section(
            f"Endpoints never observed ({len(report.never_observed)})",
            _NEVER_COLUMNS,
            report.never_observed,
        ),
        *_md_section(f"HSTS per endpoint ({len(report.hsts)})", _HSTS_COLUMNS, report.hsts),
    ]
    if report.ct_findings:  # only where `[[sources.ct]]` recorded findings
        lines += _md_section(
            f"Certificate Transparency: issued versus served ({len(report.ct_findings)})",
            _CT_COLUMNS,
            report.ct_findings,
        )
    return "\n".join(lines)


def _md_approvals(report: Report) -> list[str]:
    """Who approved which plan, and the accepted risks (`[[exceptions]]`) in force."""
    return [
        *_md_section(f"Approvals ({len(report.approvals)})", _APPROVAL_COLUMNS, report.approvals),
        *_md_section(
            f"Exceptions: accepted risk ({len(report.exceptions)})",
            _EXCEPTION_COLUMNS,
            report.exceptions,
        ),
    ]


# Each Markdown table: its column headings, and how each cell is read from a report entry.
Columns = tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]
_RUN_COLUMNS: Columns = (
    ("Run", lambda run: run["run"]),
    ("Started", lambda run: run["started"]),
    ("Finished", lambda run: run["finished"]),
    ("Host", lambda run: run["host"]),
    ("Backend", lambda run: run["backend"]),
    ("Applied", lambda run: run["applied"]),
    ("Failed", lambda run: run["failed"]),
    ("Exit code", lambda run: run["exit_code"]),
    ("Approved by", lambda run: run.get("approved_by") or "automatic"),
)
_CHANGE_COLUMNS: Columns = (
    ("Time", lambda change: change["time"]),
    ("Kind", lambda change: change["kind"]),
    ("Ticket", lambda change: change["ticket"]),
    ("Certificate", lambda change: change["certificate"]["id"]),
    ("Names", lambda change: change["certificate"]["names"]),
    ("Fields", lambda change: fields_text(change["fields"])),
    ("Reason", lambda change: change["reason"]),
    ("Approval", approval_text),
    ("Outcome", outcome_text),
)
_FAILURE_COLUMNS: Columns = (
    ("Time", lambda failure: failure["time"]),
    ("Run", lambda failure: failure["run"]),
    ("Kind", lambda failure: failure["kind"]),
    ("Ticket", lambda failure: failure["ticket"]),
    ("Certificate", lambda failure: (failure["certificate"] or {}).get("id")),
    ("Error", lambda failure: failure["error"]),
)
_CERTIFICATE_COLUMNS: Columns = (
    ("Status", lambda cert: cert["status"]),
    ("Certificate", lambda cert: cert["id"]),
    ("Names", lambda cert: cert["names"]),
    ("Effective expiry", lambda cert: cert["effective_not_after"]),
    ("Endpoints", lambda cert: cert["endpoints"]),
    ("Observed", lambda cert: cert["observed_at"]),
    ("Open ticket", lambda cert: cert["ticket"]),
    ("Due date", lambda cert: cert["due_date"]),
    ("Due date before", lambda cert: cert["due_date_before"]),
)
_APPROVAL_COLUMNS: Columns = (
    ("Run", lambda approval: approval["run"]),
    ("Started", lambda approval: approval["time"]),
    ("Plan id", lambda approval: approval["plan_id"]),
    ("Approved by", lambda approval: approval["approved_by"]),
    ("Outcome", lambda approval: approval["outcome"]),
)
_EXCEPTION_COLUMNS: Columns = (
    ("Covers", lambda entry: entry["id"] or entry["names"]),
    ("Standing", lambda entry: entry["standing"]),
    ("Reason", lambda entry: entry["reason"]),
    ("Approved by", lambda entry: entry["approved_by"]),
    ("Until", lambda entry: entry["until"]),
    ("Certificates", lambda entry: entry["certificates"]),
    ("Ended", lambda entry: entry["ended"]),
)
_GAP_COLUMNS: Columns = (
    ("No run from", lambda gap: gap["from"]),
    ("To", lambda gap: gap["to"]),
    ("Hours", lambda gap: gap["hours"]),
)
_NEVER_COLUMNS: Columns = (
    ("Endpoint", lambda endpoint: endpoint["endpoint"]),
    ("Failed probes", lambda endpoint: endpoint["probes"]),
    ("Last error", lambda endpoint: f"{endpoint.get('kind')}: {endpoint.get('message')}"),
    ("Last tried", lambda endpoint: endpoint.get("last")),
)
_HSTS_COLUMNS: Columns = (
    ("Endpoint", lambda entry: entry["endpoint"]),
    ("Strict-Transport-Security", lambda entry: hsts_text(entry["hsts"])),
    ("max-age", lambda entry: (entry["hsts"] or {}).get("max_age")),
    ("includeSubDomains", lambda entry: (entry["hsts"] or {}).get("include_subdomains")),
    ("preload", lambda entry: (entry["hsts"] or {}).get("preload")),
    ("HTTP status", lambda entry: (entry["hsts"] or {}).get("status")),
)

_CT_COLUMNS: Columns = (
    ("Finding", lambda row: row["finding"]),
    ("Certificate", lambda row: row["certificate_id"]),
    ("Names", lambda row: row["names"]),
    ("Serial", lambda row: row["serial"]),
    ("Expires", lambda row: row["not_after"]),
    ("Detail", lambda row: row["detail"]),
    ("Observed", lambda row: row["time"]),
)


def _md_section(title: str, columns: Columns, entries: Iterable[Mapping[str, Any]]) -> list[str]:
    rows = ([cell(entry) for _, cell in columns] for entry in entries)
    return [f"## {title}", "", *_md_table([heading for heading, _ in columns], rows), ""]


CSV_COLUMNS = (
    "time",
    "run",
    "kind",
    "ticket",
    "certificate_id",
    "names",
    "fields",
    "reason",
    "applied",
    "error",
    "verified",
    "plan_id",
    "approved_by",
)


# A spreadsheet cell holds at most 32,767 characters (Microsoft KB 211878, "Worksheet cells can
# contain a maximum of 32,767 characters", https://mskb.pkisolutions.com/kb/211878); past it,
# the cell is cut without a word. We cut it ourselves, say so, and the JSON keeps every byte.
CSV_CELL_LIMIT = 32_767


def _csv_cell(value: Any) -> str:
    text = csv_cell(inert(_value(value) if isinstance(value, list) else value))
    if len(text) <= CSV_CELL_LIMIT:
        return text
    note = f" … [cut at {CSV_CELL_LIMIT} of {len(text)} characters: the JSON report has all]"
    return text[: CSV_CELL_LIMIT - len(note)] + note


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for change in report.changes:
        row = [
            change["time"],
            change["run"],
            change["kind"],
            change["ticket"],
            change["certificate"]["id"],
            " ".join(change["certificate"]["names"]),
            fields_text(change["fields"]),
            change["reason"],
            {True: "true", False: "false"}.get(change["applied"], "unknown"),
            change["error"],
            "true" if change.get("verified", True) else "false",
            change.get("plan_id"),
            change.get("approved_by") or "automatic",
        ]
        writer.writerow([_csv_cell(cell) for cell in row])
    return buffer.getvalue()


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report as `html`, `md`, `csv` or `json`."""
    renderers = {"html": render_html, "md": render_md, "csv": render_csv, "json": render_json}
    try:
        renderer = renderers[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}"
        ) from None
    return renderer(report)
