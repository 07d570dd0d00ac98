"""The compliance report: what the audit log proves about a date window, as html, md, csv or json."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from rich.table import Table
from rich.text import Text

from ticketbridge.audit.intents import intent_changes
from ticketbridge.audit.log import REPAIR_EVENT, Verification, read_numbered_records, verify_log
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import AuditLogError
from ticketbridge.infra.escape import csv_cell, inert, markdown_cell

__all__ = ["FORMATS", "Format", "Report", "build_report", "render", "render_verification"]

Format = Literal["html", "md", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "md", "csv", "json")

# Exit codes (SPEC) that mean a run did not do its job; 3 (changes pending) is a dry run's answer.
_RUN_FAILURES = {1: "run error", 4: "unsafe plan refused", 5: "another run held the lock"}
# Kinds after which a certificate's ticket is no longer open (as far as the log knows).
_CLOSING = {"resolve"}
# Kinds whose `ticket` is not the certificate's renewal ticket, or that write nothing.
_NOT_THE_TICKET = {"duplicate", "ambiguous", "unobserved", "unplaceable"}


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a report shows, already windowed; renderers only format it."""

    generated_at: datetime
    since: date | None
    until: date | None
    log: Verification
    runs: tuple[dict[str, Any], ...]
    changes: tuple[dict[str, Any], ...]
    failures: tuple[dict[str, Any], ...]
    certificates: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": iso_z(self.generated_at),
            "window": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "log": self.log.as_dict(),
            "runs": list(self.runs),
            "changes": list(self.changes),
            "failures": list(self.failures),
            "certificates": list(self.certificates),
        }


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Window:
    """Inclusive UTC dates; an open end is unbounded."""

    def __init__(self, since: date | None, until: date | None) -> None:
        self.since, self.until = since, until

    def contains(self, time: Any) -> bool:
        moment = _moment(time)
        if moment is None:
            return False
        day = moment.astimezone(UTC).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    def not_after_end(self, time: Any) -> bool:
        moment = _moment(time)
        return moment is not None and (
            self.until is None or moment.astimezone(UTC).date() <= self.until
        )


def build_report(path: Path, since: date | None, until: date | None, now: datetime) -> Report:
    """Verify the log, then gather runs, changes, failures and certificates seen in the window.

    A log that does not verify still yields a report: it says so first, and shows what the log
    holds, so an auditor sees both the break and what surrounds it.
    """
    path = Path(path)
    verification = verify_log(path)
    try:
        numbered = list(read_numbered_records(path)) if path.exists() else []
    except (OSError, AuditLogError):
        numbered = []  # verify_log has already named the problem
    # Every row from the break on is marked unverified: what follows an edit proves nothing.
    trusted_before = None if verification.ok else (verification.line if verification.line else 0)
    records = [
        {**record, "verified": trusted_before is None or number < trusted_before}
        for number, record in numbered
    ]
    window = _Window(since, until)
    runs = _runs(records, window)
    changes = [
        _change(record)
        for record in records
        if record["event"] == "action"
        and window.contains(record["time"])
        and (record["data"].get("applied") or record["data"].get("error"))
    ]
    changes.extend(intent_changes(records, window.contains))
    changes.sort(key=lambda change: (str(change["time"]), change["run"]))
    return Report(
        generated_at=now,
        since=since,
        until=until,
        log=verification,
        runs=tuple(runs.values()),
        changes=tuple(changes),
        failures=_failures(records, runs, window),
        certificates=_certificates(records, window),
    )


def _runs(records: Iterable[dict[str, Any]], window: _Window) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["event"] == REPAIR_EVENT:
            continue
        run = runs.setdefault(
            record["run"],
            {
                "run": record["run"],
                "started": None,
                "finished": None,
                "host": None,
                "backend": None,
                "config_path": None,
                "version": None,
                "summary": None,
                "applied": None,
                "failed": None,
                "exit_code": None,
                "error": None,
                "verified": True,
                "first_seen": record["time"],
            },
        )
        # A run is verified only if every one of its records is.
        run["verified"] = run["verified"] and record["verified"]
        data = record["data"]
        if record["event"] == "run_started":
            run["started"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("host", "backend", "config_path", "version")}
            )
        elif record["event"] == "run_finished":
            run["finished"] = record["time"]
            run.update(
                {key: data.get(key) for key in ("summary", "applied", "failed", "exit_code")}
            )
            run["error"] = data.get("error")
    # A run belongs to the window it started in; one whose start was lost counts from its
    # first surviving record.
    return {
        key: {name: value for name, value in run.items() if name != "first_seen"}
        for key, run in runs.items()
        if window.contains(run["started"] or run["first_seen"])
    }


def _certificate_ref(data: Mapping[str, Any]) -> dict[str, Any]:
    certificate = data.get("certificate") or {}
    return {"id": certificate.get("id"), "names": list(certificate.get("names") or [])}


def _change(record: dict[str, Any]) -> dict[str, Any]:
    data = record["data"]
    return {
        "time": record["time"],
        "run": record["run"],
        "kind": data.get("kind"),
        "ticket": data.get("ticket"),
        "certificate": _certificate_ref(data),
        "fields": data.get("fields") or {},
        "reason": data.get("reason"),
        "applied": bool(data.get("applied")),
        "error": data.get("error"),
        "note": data.get("note"),
        "verified": record["verified"],
    }


def _failures(
    records: Iterable[dict[str, Any]], runs: Mapping[str, dict[str, Any]], window: _Window
) -> tuple[dict[str, Any], ...]:
    failures = [
        {
            "time": record["time"],
            "run": record["run"],
            "kind": record["data"].get("kind"),
            "ticket": record["data"].get("ticket"),
            "certificate": _certificate_ref(record["data"]),
            "error": record["data"]["error"],
            "verified": record["verified"],
        }
        for record in records
        if record["event"] == "action"
        and record["data"].get("error")
        and window.contains(record["time"])
    ]
    for run in runs.values():
        exit_code = run["exit_code"]
        if run["finished"] is None:
            error = "no run_finished record: the run was interrupted, or is still running"
        elif exit_code in _RUN_FAILURES:
            error = run["error"] or _RUN_FAILURES[exit_code]
        else:
            continue
        failures.append(
            {
                "time": run["finished"] or run["started"],
                "run": run["run"],
                "kind": "run",
                "ticket": None,
                "certificate": None,
                "error": error,
                "verified": run["verified"],
            }
        )
    failures.sort(key=lambda failure: str(failure["time"]))
    return tuple(failures)


def _certificates(records: Iterable[dict[str, Any]], window: _Window) -> tuple[dict[str, Any], ...]:
    """Each certificate as last observed in the window, with its renewal ticket as the log
    last recorded it (the log sees tickets only when ticketbridge writes to them)."""
    latest: dict[str, dict[str, Any]] = {}
    tickets: dict[str, str | None] = {}
    for record in records:
        data = record["data"]
        if record["event"] == "observed" and window.contains(record["time"]):
            for certificate in data.get("certificates") or []:
                if isinstance(certificate, dict) and certificate.get("id"):
                    latest[certificate["id"]] = {
                        "id": certificate["id"],
                        "names": list(certificate.get("names") or []),
                        "effective_not_after": certificate.get("effective_not_after"),
                        "fingerprints": list(certificate.get("fingerprints") or []),
                        "endpoints": list(certificate.get("endpoints") or []),
                        "observed_at": record["time"],
                        "verified": record["verified"],
                    }
        elif record["event"] == "action" and window.not_after_end(record["time"]):
            certificate_id = _certificate_ref(data)["id"]
            kind, ticket = data.get("kind"), data.get("ticket")
            if not certificate_id or not ticket or kind in _NOT_THE_TICKET:
                continue
            if kind in _CLOSING and data.get("applied"):
                tickets[certificate_id] = None
            elif data.get("applied") or kind not in {"create", "reopen"}:
                tickets[certificate_id] = ticket
    entries = [{**entry, "ticket": tickets.get(key)} for key, entry in latest.items()]
    entries.sort(key=lambda entry: (str(entry["effective_not_after"]), entry["id"]))
    return tuple(entries)


# Rendering. Certificate text comes from whoever runs the server: every cell is hostile.


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
        f"## Runs ({len(report.runs)})",
        "",
        *_md_table(
            ["Run", "Started", "Finished", "Host", "Backend", "Applied", "Failed", "Exit code"],
            (
                [
                    run["run"],
                    run["started"],
                    run["finished"],
                    run["host"],
                    run["backend"],
                    run["applied"],
                    run["failed"],
                    run["exit_code"],
                ]
                for run in report.runs
            ),
        ),
        "",
        f"## Changes ({len(report.changes)})",
        "",
        *_md_table(
            ["Time", "Kind", "Ticket", "Certificate", "Names", "Fields", "Reason", "Outcome"],
            (
                [
                    change["time"],
                    change["kind"],
                    change["ticket"],
                    change["certificate"]["id"],
                    change["certificate"]["names"],
                    fields_text(change["fields"]),
                    change["reason"],
                    outcome_text(change),
                ]
                for change in report.changes
            ),
        ),
        "",
        f"## Failures ({len(report.failures)})",
        "",
        *_md_table(
            ["Time", "Run", "Kind", "Ticket", "Certificate", "Error"],
            (
                [
                    failure["time"],
                    failure["run"],
                    failure["kind"],
                    failure["ticket"],
                    (failure["certificate"] or {}).get("id"),
                    failure["error"],
                ]
                for failure in report.failures
            ),
        ),
        "",
        f"## Certificates last observed in the window ({len(report.certificates)})",
        "",
        *_md_table(
            ["Certificate", "Names", "Effective expiry", "Endpoints", "Observed", "Open ticket"],
            (
                [
                    cert["id"],
                    cert["names"],
                    cert["effective_not_after"],
                    cert["endpoints"],
                    cert["observed_at"],
                    cert["ticket"],
                ]
                for cert in report.certificates
            ),
        ),
        "",
    ]
    return "\n".join(lines)


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


def render_verification(verification: Verification) -> Table:
    """`audit verify` as a table: the verdict first, then what an auditor records."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    verdict = (
        Text("verified", style="bold green")
        if verification.ok
        else Text("NOT VERIFIED", style="bold red")
    )
    table.add_row("Audit log", Text(inert(verification.path)))
    table.add_row("Hash chain", verdict)
    table.add_row("Records", str(verification.records))
    table.add_row("Runs", str(verification.runs))
    table.add_row("Head hash", verification.head or "(none)")
    if verification.problem:
        table.add_row("Problem", Text(inert(verification.problem), style="red"))
    return table
