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
    return environment


def render_html(report: Report) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(report=report, window=window_text(report))


def _md(value: Any) -> str:
    return markdown_cell(value).replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def _md_table(headers: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
    if len(lines) == 2:
        lines.append("| " + " | ".join(["—"] * len(headers)) + " |")
    return lines


def render_md(report: Report) -> str:
    log = report.log
    verdict = "**verified**" if log.ok else f"**NOT VERIFIED**: {_md(log.problem)}"
    lines = [
        "# ticketbridge audit report",
        "",
        f"- Generated: {iso_z(report.generated_at)}",
        f"- Window: {window_text(report)}",
        f"- Audit log: {_md(log.path)}",
        f"- Hash chain: {verdict}",
        f"- Head hash: `{_md(log.head or '(none)')}`",
        f"- Records verified: {log.records}; runs: {log.runs}",
        "",
        *_md_section(f"Runs ({len(report.runs)})", _RUN_COLUMNS, report.runs),
        *_md_section(f"Changes ({len(report.changes)})", _CHANGE_COLUMNS, report.changes),
        *_md_section(f"Failures ({len(report.failures)})", _FAILURE_COLUMNS, report.failures),
        *_md_section(
            f"Certificates last observed in the window ({len(report.certificates)})",
            _CERTIFICATE_COLUMNS,
            report.certificates,
        ),
    ]
    if report.ct_findings:  # only where `[[sources.ct]]` recorded findings
        lines += _md_section(
            f"Certificate Transparency: issued versus served ({len(report.ct_findings)})",
            _CT_COLUMNS,
            report.ct_findings,
        )
    return "\n".join(lines)


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
)
_CHANGE_COLUMNS: Columns = (
    ("Time", lambda change: change["time"]),
    ("Kind", lambda change: change["kind"]),
    ("Ticket", lambda change: change["ticket"]),
    ("Certificate", lambda change: change["certificate"]["id"]),
    ("Names", lambda change: change["certificate"]["names"]),
    ("Fields", lambda change: fields_text(change["fields"])),
    ("Reason", lambda change: change["reason"]),
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
    ("Certificate", lambda cert: cert["id"]),
    ("Names", lambda cert: cert["names"]),
    ("Effective expiry", lambda cert: cert["effective_not_after"]),
    ("Endpoints", lambda cert: cert["endpoints"]),
    ("Observed", lambda cert: cert["observed_at"]),
    ("Open ticket", lambda cert: cert["ticket"]),
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
)


def _csv_cell(value: Any) -> str:
    return csv_cell(inert(_value(value) if isinstance(value, list) else value))


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
