"""Human-facing rendering with rich: scan results as a table grouped by tracked certificate."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ticketbridge.audit.chain import Verification
from ticketbridge.cli.hsts_view import hsts_cell, probed
from ticketbridge.cli.layout import Fitted, blocks
from ticketbridge.core.apply import ActionResult, ApplyReport
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import Observation, Ticket, TrackedCert
from ticketbridge.core.plan import Change, Plan
from ticketbridge.infra.escape import inert

if TYPE_CHECKING:
    # Only `doctor` renders checks: the other commands need not load the Jira adapter.
    from ticketbridge.app.doctor import CheckResult

MAX_NAMES_SHOWN = 4
MAX_ENDPOINTS_SHOWN = 6


def printable(text: str, limit: int = 200, *, keep_newlines: bool = False) -> str:
    """Text from a certificate or a server, made safe for a terminal (rich markup is never
    interpreted: callers wrap the result in `Text`)."""
    return inert(text, limit, keep_newlines=keep_newlines)


def _days_text(moment: datetime, now: datetime) -> Text:
    seconds = (moment - now).total_seconds()
    if seconds < 0:
        return Text(f"expired {math.ceil(-seconds / 86400)}d ago", style="bold red")
    days = math.floor(seconds / 86400)
    style = "red" if days <= 7 else "yellow" if days <= 30 else "green"
    return Text(str(days), style=style)


def _names_text(names: Sequence[str]) -> Text:
    shown = [printable(name, 80) for name in names[:MAX_NAMES_SHOWN]]
    if len(names) > MAX_NAMES_SHOWN:
        shown.append(f"(+{len(names) - MAX_NAMES_SHOWN} more)")
    return Text("\n".join(shown))


def _endpoints_text(labels: Sequence[str]) -> Text:
    shown = [printable(label, 80) for label in labels[:MAX_ENDPOINTS_SHOWN]]
    if len(labels) > MAX_ENDPOINTS_SHOWN:
        shown.append(f"(+{len(labels) - MAX_ENDPOINTS_SHOWN} more)")
    return Text("\n".join(shown))


def certificate_verdict(certificate: TrackedCert) -> Text:
    """One line summarising the verification of every observation of this certificate."""
    problems: dict[str, int] = {}
    checked = 0
    for observation in certificate.observations:
        verification = observation.verification
        if verification is None:
            continue
        checked += 1
        if verification.error:
            problems[printable(verification.error, 120)] = problems.get(verification.error, 0) + 1
    if not checked:
        return Text("not verified", style="dim")
    if not problems:
        return Text("trusted", style="green")
    lines = [
        f"{problem}" + (f" (×{count})" if count > 1 else "") for problem, count in problems.items()
    ]
    return Text("\n".join(lines), style="yellow")


def _expiry_text(moment: datetime) -> Text:
    return Text(moment.strftime("%Y-%m-%d %H:%M"))


def scan_table(inventory: Inventory, now: datetime, hsts_min_max_age: int = 0) -> Fitted:
    table = Table(title="Certificates served", title_justify="left", show_lines=True, expand=False)
    # Names, ids and host:port@address labels are never wrapped (a column too narrow for them
    # gives the stacked layout instead); only the verdict, which is prose, wraps.
    table.add_column("Certificate", no_wrap=True)
    table.add_column("Effective expiry (UTC)", no_wrap=True)
    table.add_column("Days left", justify="right", no_wrap=True)
    table.add_column("Endpoints", no_wrap=True)
    table.add_column("Verdict", overflow="fold")
    # The HSTS column only when some endpoint was asked (HTTPS endpoints, [discovery] hsts).
    hsts = any(probed(certificate.observations) for certificate in inventory.certificates)
    if hsts:
        table.add_column("HSTS", overflow="fold")
    for certificate in inventory.certificates:
        cells: list[RenderableType] = [
            _certificate_cell(certificate.names, certificate.id),
            _expiry_text(certificate.effective_not_after),
            _days_text(certificate.effective_not_after, now),
            _endpoints_text(certificate.endpoint_labels),
            _with_strays(certificate_verdict(certificate), certificate, now),
        ]
        if hsts:
            cells.append(hsts_cell(certificate, hsts_min_max_age, MAX_ENDPOINTS_SHOWN))
        table.add_row(*cells)

    def stacked() -> RenderableType:
        def fields(certificate: TrackedCert) -> list[tuple[str, RenderableType]]:
            shown: list[tuple[str, RenderableType]] = [
                ("id", Text(certificate.id)),
                ("expires", _expiry_text(certificate.effective_not_after) + " UTC"),
                ("days left", _days_text(certificate.effective_not_after, now)),
                ("endpoints", _endpoints_text(certificate.endpoint_labels)),
                ("verdict", _with_strays(certificate_verdict(certificate), certificate, now)),
            ]
            if hsts:
                shown.append(
                    ("hsts", hsts_cell(certificate, hsts_min_max_age, MAX_ENDPOINTS_SHOWN))
                )
            return shown

        return blocks(
            "Certificates served",
            (
                (
                    Text.assemble((", ".join(certificate.names[:MAX_NAMES_SHOWN]), "bold")),
                    fields(certificate),
                )
                for certificate in inventory.certificates
            ),
        )

    return Fitted(table, stacked)


def _with_strays(verdict: Text, certificate: TrackedCert, now: datetime) -> Text:
    """Beside the verdict: a served certificate off the validated path that sets the effective
    expiry, and strays (served, on no path from the leaf, never counted; SPEC)."""
    off_path = {
        served.fingerprint_sha256: served
        for observation in certificate.observations
        if (served := observation.off_path_expiry) is not None
    }
    lines = [
        f"chain still includes {printable(served.subject, 80)} "
        f"({_tense(served.not_after, now)} {served.not_after:%Y-%m-%d}): older clients use it"
        for served in off_path.values()
    ][:MAX_ENDPOINTS_SHOWN]
    lines += [
        f"stray: {printable(stray.subject, 80)} "
        f"({_tense(stray.not_after, now)} {stray.not_after:%Y-%m-%d})"
        for stray in certificate.strays[:MAX_ENDPOINTS_SHOWN]
    ]
    if not lines:
        return verdict
    return Text.assemble(verdict, ("\n" + "\n".join(lines), "dim"))


def _tense(moment: datetime, now: datetime) -> str:
    return "expired" if moment <= now else "expires"


def errors_table(failures: Iterable[Observation]) -> Fitted | None:
    rows = [observation for observation in failures if observation.error is not None]
    if not rows:
        return None
    title = "Endpoints that could not be observed"
    table = Table(title=title, title_justify="left")
    table.add_column("Endpoint", no_wrap=True)
    table.add_column("Error", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    cells = []
    for observation in rows:
        assert observation.error is not None
        cells.append(
            (
                Text(printable(observation.endpoint.label)),
                Text(observation.error.kind.value, style="red"),
                Text(printable(observation.error.message)),
            )
        )
    for endpoint, kind, detail in cells:
        table.add_row(endpoint, kind, detail)
    return Fitted(
        table,
        lambda: blocks(
            title,
            ((endpoint, [("error", kind), ("detail", detail)]) for endpoint, kind, detail in cells),
        ),
    )


def scan_report(inventory: Inventory, now: datetime, hsts_min_max_age: int = 0) -> RenderableType:
    parts: list[RenderableType] = []
    if inventory.certificates:
        parts.append(scan_table(inventory, now, hsts_min_max_age))
    else:
        parts.append(Text("No certificate was observed.", style="yellow"))
    failures = errors_table(inventory.unobserved)
    if failures is not None:
        parts.append(failures)
    observed = sum(len(certificate.observations) for certificate in inventory.certificates)
    parts.append(
        Text(
            f"{len(inventory.certificates)} certificate(s) on {observed} endpoint(s); "
            f"{len(inventory.unobserved)} endpoint(s) could not be observed.",
            style="dim",
        )
    )
    return Group(*parts)


_KIND_STYLE = {
    "create": "bold green",
    "update": "cyan",
    "escalate": "bold yellow",
    "page": "bold red",
    "resolve": "green",
    "reopen": "magenta",
    "duplicate": "yellow",
    "ambiguous": "dim yellow",
    "unobserved": "dim red",
    "unplaceable": "dim red",
}


def _changes_text(fields: Mapping[str, Change]) -> Text:
    lines = []
    for name, change in sorted(fields.items()):
        before = change.before if change.before not in (None, [], "") else "—"
        after = change.after if change.after not in (None, [], "") else "—"
        lines.append(f"{name}: {_short(before)} → {_short(after)}")
    return Text("\n".join(lines))


def _short(value: object) -> str:
    if isinstance(value, list):
        return printable(", ".join(str(item) for item in value), 80)
    return printable(str(value), 80)


def _certificate_cell(names: Sequence[str], certificate_id: str) -> Text:
    return Text.assemble(_names_text(names), ("\n" + certificate_id, "dim"))


def _result_text(result: ActionResult) -> Text:
    if result.error:
        return Text(f"failed: {printable(result.error, 300)}", style="red")
    if result.applied:
        return Text("done" + (f" ({result.note})" if result.note else ""), style="green")
    return Text(result.note or "not written", style="dim")


def plan_table(plan: Plan, results: Sequence[ActionResult] | None = None) -> Fitted:
    title = "Plan" if results is None else "Applied"
    headers = ["Action", "Ticket", "Certificate", "Change", "Reason"]
    if results is not None:
        headers.append("Result")
    rows: list[list[Text]] = []
    outcomes = results if results is not None else [None] * len(plan.actions)
    for action, result in zip(plan.actions, outcomes, strict=True):
        ticket = (result.ticket if result is not None else None) or action.ticket or "(new)"
        cells = [
            Text(str(action.kind), style=_KIND_STYLE.get(str(action.kind), "")),
            Text(printable(ticket, 40)),
            _certificate_cell(action.certificate.names, action.certificate.id),
            _changes_text(action.fields),
            Text(printable(action.reason, 600)),
        ]
        if result is not None:
            cells.append(_result_text(result))
        rows.append(cells)
    table = Table(title=title, title_justify="left", show_lines=True)
    for header in headers:
        wraps = header in ("Change", "Reason", "Result")  # prose; the rest are tokens
        table.add_column(
            header, no_wrap=not wraps, overflow="fold", ratio=2 if header == "Reason" else None
        )
    for cells in rows:
        table.add_row(*cells)

    def stacked() -> RenderableType:
        return blocks(
            title,
            (
                (
                    Text.assemble(cells[0], "  ", cells[1]),
                    [
                        (header.lower(), cell)
                        for header, cell in zip(headers[2:], cells[2:], strict=True)
                    ],
                )
                for cells in rows
            ),
        )

    return Fitted(table, stacked)


def plan_summary_line(plan: Plan) -> Text:
    counts = ", ".join(f"{count} {kind}" for kind, count in plan.summary.items() if count)
    if not plan.actions:
        return Text("Nothing to do: every ticket matches what is served.", style="green")
    return Text(f"{plan.writes} write(s) planned: {counts}.", style="bold")


def exceptions_table(plan: Plan) -> list[RenderableType]:
    """`[[exceptions]]` and where each stands this run; nothing when none is configured."""
    if not plan.exceptions:
        return []
    table = Table(title="Exceptions", title_justify="left", show_lines=True)
    for column in ("Standing", "Covers", "Certificate", "Until", "Note"):
        table.add_column(column, overflow="fold")
    for standing in plan.exceptions:
        table.add_row(
            Text(str(standing.standing)),
            Text(printable(standing.exception.label, 200)),
            Text(printable("\n".join(standing.certificate_ids) or "—", 200)),
            Text(standing.exception.until.isoformat()),
            Text(printable(standing.note, 600)),
        )
    return [table]


def plan_report(plan: Plan) -> RenderableType:
    if not plan.actions and not plan.exceptions:
        return plan_summary_line(plan)
    actions = [plan_table(plan)] if plan.actions else []
    return Group(*actions, *exceptions_table(plan), plan_summary_line(plan))


def apply_report(report: ApplyReport) -> RenderableType:
    if not report.plan.actions:
        return plan_summary_line(report.plan)
    failed = len(report.failures)
    style = "bold red" if failed else "bold green"
    line = Text(f"{report.applied} action(s) applied, {failed} failed.", style=style)
    if failed:
        line.append(" The next run retries what failed.", style="red")
    return Group(plan_table(report.plan, report.results), *exceptions_table(report.plan), line)


def tickets_table(tickets: Sequence[Ticket]) -> RenderableType:
    if not tickets:
        return Text("No tickets.", style="dim")
    headers = ["Key", "Status", "Due", "Priority", "Summary", "Certificate", "Endpoints"]
    rows = [
        [
            # Key, status and priority come from the ticket system: as hostile as a summary.
            Text(printable(ticket.key, 40)),
            Text(printable(ticket.status, 60), style="green" if not ticket.is_open else ""),
            Text(ticket.due_date.isoformat() if ticket.due_date else "—"),
            Text(printable(ticket.priority or "—", 60)),
            Text(printable(ticket.summary, 200)),
            Text(
                ", ".join(ticket.marker_ids) or "(not tracked)",
                style="" if ticket.marker_ids else "dim",
            ),
            _endpoints_text(ticket.tracked_endpoints),
        ]
        for ticket in tickets
    ]
    table = Table(title="Tickets", title_justify="left")
    for header in headers:
        table.add_column(header, no_wrap=header != "Summary", overflow="fold")
    for cells in rows:
        table.add_row(*cells)

    def stacked() -> RenderableType:
        return blocks(
            "Tickets",
            (
                (
                    Text.assemble((cells[0].plain, "bold"), "  ", cells[4]),
                    [
                        (header.lower(), cell)
                        for header, cell in zip(headers, cells, strict=True)
                        if header not in ("Key", "Summary")
                    ],
                )
                for cells in rows
            ),
        )

    return Fitted(table, stacked)


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
    if len(verification.files) > 1:
        # A rotated log: every file walked, oldest first, as one chain.
        table.add_row("Files", Text(inert("\n".join(verification.files))))
    table.add_row("Hash chain", verdict)
    table.add_row("Records", str(verification.records))
    table.add_row("Runs", str(verification.runs))
    table.add_row("Head hash", verification.head or "(none)")
    if verification.problem:
        table.add_row("Problem", Text(inert(verification.problem), style="red"))
    return table


def doctor_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="ticketbridge doctor", show_lines=False)
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    for result in results:
        verdict = Text("ok", style="green") if result.ok else Text("FAIL", style="bold red")
        # Details quote server and config text: never let them be read as rich markup.
        table.add_row(Text(result.name), verdict, Text(result.detail))
    return table
