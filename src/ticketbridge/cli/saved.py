"""Saved plans on the command line: `plan --out/--from`, `reconcile --plan --approved-by`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ticketbridge.cli.options import TableOrJson
from ticketbridge.cli.output import emit, json_out, stderr
from ticketbridge.errors import EXIT_CHANGES_PENDING, EXIT_OK, StalePlan, UsageError

# Imported by commands.py at start-up: rich and the app layer load only when used.
if TYPE_CHECKING:
    from rich.console import RenderableType

    from ticketbridge.app.approved import SavedPlan
    from ticketbridge.app.run import RunOutcome

__all__ = ["SavedPlan", "approval_of", "save_plan", "show_saved", "stale_reported"]

OutOption = Annotated[
    Path | None,
    typer.Option("--out", dir_okay=False, help="Also save the plan (with its plan_id) for review."),
]
FromOption = Annotated[
    Path | None,
    typer.Option("--from", dir_okay=False, help="Show a plan saved by --out; gathers nothing."),
]
PlanFileOption = Annotated[
    Path | None,
    typer.Option(
        "--plan", dir_okay=False, help="Apply exactly this saved plan, or refuse (exit 6)."
    ),
]
ApprovedByOption = Annotated[
    str | None,
    typer.Option("--approved-by", help="Who approved the --plan (recorded in the audit trail)."),
]

REPORT_ONLY = frozenset({"ambiguous", "unobserved", "unplaceable"})


def approval_of(plan_file: Path | None, approved_by: str | None) -> SavedPlan | None:
    """The saved plan to apply, read and checked before anything is gathered."""
    from dataclasses import replace

    from ticketbridge.app.approved import read_saved_plan

    if plan_file is None:
        if approved_by is not None:
            raise UsageError("--approved-by: names who approved a --plan FILE; give the plan too")
        return None
    if approved_by is None or not approved_by.strip():
        raise UsageError(f"--plan {plan_file}: --approved-by WHO is required with a saved plan")
    return replace(read_saved_plan(plan_file), approved_by=approved_by.strip())


def save_plan(path: Path | None, outcome: RunOutcome) -> None:
    """With `--out`, write the plan for review and say its id on stderr."""
    from ticketbridge.app.approved import write_saved_plan

    if path is None:
        return
    assert outcome.facts is not None  # a run that planned knows what it planned from
    document = write_saved_plan(path, outcome.plan, outcome.facts)
    stderr().print(f"plan {document['plan_id']} saved to {path}", markup=False, highlight=False)


def show_saved(path: Path, output_format: TableOrJson, detailed_exitcode: bool) -> NoReturn:
    """Print a saved plan as it will be approved (exit 3 with --detailed-exitcode and writes)."""
    from ticketbridge.app.approved import read_saved_plan

    saved = read_saved_plan(path, "--from")
    if output_format is TableOrJson.json:
        json_out(saved.document)
    else:
        emit(saved_plan_report(saved.document))
    writes = sum(1 for action in saved.document["actions"] if _kind(action) not in REPORT_ONLY)
    raise typer.Exit(EXIT_CHANGES_PENDING if detailed_exitcode and writes else EXIT_OK)


@contextlib.contextmanager
def stale_reported(output_format: TableOrJson) -> Iterator[None]:
    """A refused plan's every reason on stdout, then the one error line (exit 6) as usual."""
    try:
        yield
    except StalePlan as exc:
        report_stale(exc, output_format)
        raise


def report_stale(exc: StalePlan, output_format: TableOrJson) -> None:
    """Every reason on stdout (the error line on stderr may be cut short)."""
    if output_format is TableOrJson.json:
        json_out(
            {
                "stale": True,
                "plan_id": exc.saved_plan_id,
                "fresh_plan_id": exc.fresh_plan_id,
                "reasons": list(exc.reasons),
            }
        )
        return
    # Plain lines, never wrapped: one reason per line, for a person and for grep.
    lines = [f"The approved plan {exc.saved_plan_id} is stale; nothing was written:"]
    lines += [f"  - {_printable(reason, 600)}" for reason in exc.reasons]
    sys.stdout.write("\n".join(lines) + "\n")


def _kind(action: Any) -> str:
    return str(action.get("kind")) if isinstance(action, Mapping) else ""


def _printable(text: object, limit: int) -> str:
    from ticketbridge.cli.tables import printable

    return printable(str(text), limit)


def _changes(fields: Any) -> str:
    if not isinstance(fields, Mapping):
        return ""
    lines = []
    for name, change in sorted(fields.items()):
        before = change.get("from") if isinstance(change, Mapping) else None
        after = change.get("to") if isinstance(change, Mapping) else None
        lines.append(f"{name}: {before if before not in (None, '', []) else '—'} → {after}")
    return _printable("\n".join(lines), 600)


def saved_plan_report(document: Mapping[str, Any]) -> RenderableType:
    """The saved plan as a person reviews it before approving: id, inputs, every action."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text.assemble(
        ("Saved plan ", "bold"),
        (str(document.get("plan_id")), "bold cyan"),
        f"\nmade {_printable(document.get('generated_at'), 40)}",
    )
    inputs = document.get("inputs")
    if isinstance(inputs, Mapping):
        for name, digest in sorted(inputs.items()):
            if isinstance(digest, Mapping):
                header.append(
                    f"\n{name}: {digest.get('count')} (sha256 {str(digest.get('sha256'))[:16]})"
                )
    table = Table(title="Plan", title_justify="left", show_lines=True)
    for column in ("Action", "Ticket", "Certificate", "Change", "Reason"):
        table.add_column(column, overflow="fold")
    writes = 0
    for action in document.get("actions") or []:
        if not isinstance(action, Mapping):
            continue
        writes += _kind(action) not in REPORT_ONLY
        certificate = action.get("certificate") or {}
        names = "\n".join(str(name) for name in (certificate.get("names") or [])[:4])
        table.add_row(
            Text(_kind(action)),
            Text(_printable(action.get("ticket") or "(new)", 40)),
            Text(_printable(f"{names}\n{certificate.get('id')}", 400)),
            Text(_changes(action.get("fields"))),
            Text(_printable(action.get("reason") or "", 600)),
        )
    footer = Text(f"{writes} write(s) to approve.", style="bold")
    return Group(header, table, footer)
