"""The commands that look rather than reconcile: tickets, doctor, audit verify, and the demo."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ticketbridge.cli.exits import errors_mapped
from ticketbridge.cli.options import AppState, NameOption, TableOrJson
from ticketbridge.cli.output import emit, json_out
from ticketbridge.errors import EXIT_RUN_ERROR
from ticketbridge.infra.clock import utcnow_seconds as utcnow


def tickets_command(
    ctx: typer.Context,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Untracked tickets too: everything the local store holds, or Jira's adoption scope.",
        ),
    ] = False,
    due_within: Annotated[
        int | None,
        typer.Option(
            "--expiring-within",
            metavar="DAYS",
            min=0,
            help="Only tickets whose renewal is due within DAYS days (overdue ones included).",
        ),
    ] = None,
    name: NameOption = None,
) -> None:
    """The tickets ticketbridge tracks, from whichever backend is configured."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.app.views import filter_tickets
        from ticketbridge.app.wiring import opened
        from ticketbridge.cli.tables import tickets_table
        from ticketbridge.core.ports import ListsAllTickets
        from ticketbridge.core.shapes import ticket_to_json

        settings = state.settings()
        with contextlib.ExitStack() as stack:
            backend = opened(stack, settings, state.config_path)
            # The embedded store can list all it holds; a Jira project is only read in scope.
            tickets = (
                backend.all_tickets()
                if show_all and isinstance(backend, ListsAllTickets)
                else backend.open_tickets()
            )
        listed = filter_tickets(
            sorted(
                (ticket for ticket in tickets if show_all or ticket.marker_ids),
                key=lambda ticket: (ticket.created, ticket.key),
            ),
            due_within_days=due_within,
            name=name,
            now=utcnow(),
        )
        if output_format is TableOrJson.json:
            json_out({"tickets": [ticket_to_json(ticket) for ticket in listed]})
        else:
            emit(tickets_table(listed))


def doctor_command(
    ctx: typer.Context,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
) -> None:
    """Check config, ticket-system reachability, credentials, permissions, fields, transitions."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.app.doctor import checks_to_json, run_checks
        from ticketbridge.cli.tables import doctor_table

        results = run_checks(state.settings(), state.config_path)
        if output_format is TableOrJson.json:
            json_out(checks_to_json(results))
        else:
            emit(doctor_table(results))
    if not all(result.ok for result in results):
        raise typer.Exit(EXIT_RUN_ERROR)


def audit_verify_command(
    ctx: typer.Context,
    log_file: Annotated[
        Path | None, typer.Option("--log", help="The log to verify (default: audit.log_path).")
    ] = None,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
) -> None:
    """Recompute the hash chain of the audit log; exit 1 at the first broken record."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.app.gather import resolve_relative
        from ticketbridge.audit import verify_log
        from ticketbridge.cli.tables import render_verification

        if log_file is None:
            settings = state.settings()
            log_file = resolve_relative(settings.audit.log_path, state.config_path)
        verification = verify_log(log_file)
        if output_format is TableOrJson.json:
            json_out(verification.as_dict())
        else:
            emit(render_verification(verification))
    if not verification.ok:
        raise typer.Exit(EXIT_RUN_ERROR)


def demo_command(
    ctx: typer.Context,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            file_okay=False,
            help="Keep the demo's config, ticket store and certificates in this directory.",
        ),
    ] = None,
) -> None:
    """Replay the incident on loopback and reconcile it: no network, no credentials."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from rich.console import Console

        from ticketbridge.cli.demo import run_demo

        converged = run_demo(Console(), utcnow(), workdir)
    if not converged:
        raise typer.Exit(EXIT_RUN_ERROR)
