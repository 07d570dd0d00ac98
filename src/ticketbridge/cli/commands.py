"""The typer command line: parse, call the service, render, and map errors to exit codes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ticketbridge import __version__
from ticketbridge.app.config import Settings, environment, resolve_config_path
from ticketbridge.app.logs import configure_logging
from ticketbridge.app.signals import install_sigterm_handler, run_deadline
from ticketbridge.cli.exits import errors_mapped, fail
from ticketbridge.cli.options import (
    AppState,
    LogFormat,
    ObservationsOption,
    ReportFormat,
    ScanTooOption,
    TableOrJson,
)
from ticketbridge.cli.output import (
    ScanFormat,
    emit,
    json_out,
    output_to,
    progress_bar,
    write_scan,
)
from ticketbridge.core.timefmt import iso_z
from ticketbridge.discovery.workers import WorkerPool, prefork
from ticketbridge.errors import (
    EXIT_CHANGES_PENDING,
    EXIT_RUN_ERROR,
)
from ticketbridge.infra.clock import utcnow_seconds as utcnow

# Commands import what they use when they run (rich, the reconciler, pydantic schemas): a
# scheduled `scan --format jsonl` should not pay for a table renderer at start-up.
if TYPE_CHECKING:
    from ticketbridge.app.run import RunOutcome
    from ticketbridge.core.model import Observation

log = logging.getLogger("ticketbridge")

app = typer.Typer(
    name="ticketbridge",
    help="Track the certificates actually served and keep their renewal tickets honest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ticketbridge {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (else $TICKETBRIDGE_CONFIG, else ./ticketbridge.toml).",
            # Checked by load_settings, as one error line (a directory, unreadable, a FIFO).
            readable=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Verbose logs and full tracebacks.")
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="Log lines on stderr as text or JSON.")
    ] = LogFormat.text,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    install_sigterm_handler()
    configure_logging(debug=debug, json_format=log_format is LogFormat.json)
    path, required = resolve_config_path(config, environment())
    ctx.obj = AppState(config_path=path, config_required=required, debug=debug)


@contextlib.contextmanager
def _pool_unless(no_scan: object) -> Iterator[WorkerPool | None]:
    """Probing workers, forked before the configuration is loaded, when this run will scan."""
    if no_scan:
        yield None
        return
    with prefork() as pool:
        yield pool


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    output_format: Annotated[
        ScanFormat, typer.Option("--format", help="table for people; json or jsonl for machines.")
    ] = ScanFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="K/N: only the endpoints of shard K of N (0 <= K < N)."),
    ] = None,
) -> None:
    """Probe every configured endpoint and file; show what is actually served."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug), prefork() as pool:
        from ticketbridge.app.sharding import scan_shard, shard_option

        settings = state.settings()
        which = shard_option(shard)
        with progress_bar(enabled=True) as progress, run_deadline(settings.run.deadline):
            result = scan_shard(
                settings, state.config_path, environment(), which, progress=progress, pool=pool
            )
        now = utcnow()
        log.info(
            "scan finished",
            extra={
                "certificates": len(result.inventory.certificates),
                "observations": len(result.observations),
                "unobserved": len(result.inventory.unobserved),
            },
        )
        if output_format is ScanFormat.table:
            from rich.console import Console

            from ticketbridge.cli.tables import scan_report

            with output_to(output) as handle:
                console = (
                    Console()
                    if output is None
                    else Console(file=handle, width=160, color_system=None)
                )
                console.print(scan_report(result.inventory, now))
            return
        with output_to(output) as handle:
            write_scan(result, output_format, handle, iso_z(now))


@contextlib.contextmanager
def _observer(
    state: AppState,
    observation_files: list[Path] | None,
    scan_too: bool,
    output_format: TableOrJson,
) -> Iterator[tuple[Settings, Callable[[], list[Observation]]]]:
    """The configuration, validated, and how to gather this run's observations (a scan,
    `--observations` files, or both), which the run calls once it holds its lock."""
    from ticketbridge.app.gather import observer

    with _pool_unless(observation_files and not scan_too) as pool:
        settings = state.settings()
        with progress_bar(enabled=output_format is TableOrJson.table) as progress:
            yield (
                settings,
                observer(
                    settings,
                    state.config_path,
                    environment(),
                    observation_files=observation_files or (),
                    scan_too=scan_too,
                    progress=progress,
                    pool=pool,
                ),
            )


def _plan_or_apply(
    state: AppState,
    observations: list[Path] | None,
    scan_too: bool,
    output_format: TableOrJson,
    *,
    dry_run: bool,
    force: bool = False,
    max_changes: int | None = None,
) -> RunOutcome:
    """Validate, (unless a dry run) lock, gather, decide and apply: what `plan` and
    `reconcile` share."""
    from ticketbridge.app.run import reconcile
    from ticketbridge.app.wiring import pager_of

    with (
        _observer(state, observations, scan_too, output_format) as (settings, observe),
        run_deadline(settings.run.deadline),
    ):
        return reconcile(
            settings,
            state.config_path,
            observe,
            dry_run=dry_run,
            force=force,
            max_changes=max_changes,
            now=utcnow,  # read after the scan, which may take minutes
            pager=pager_of(settings, state.config_path, dry_run=dry_run),
        )


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    observations: ObservationsOption = None,
    scan_too: ScanTooOption = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when the plan has changes.")
    ] = False,
) -> None:
    """Show what reconcile would do; writes nothing anywhere."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.cli.tables import plan_report

        outcome = _plan_or_apply(state, observations, scan_too, output_format, dry_run=True)
        if output_format is TableOrJson.json:
            json_out(outcome.plan.as_dict())
        else:
            emit(plan_report(outcome.plan))
    if detailed_exitcode and outcome.plan.writes:
        raise typer.Exit(EXIT_CHANGES_PENDING)


@app.command("reconcile")
def reconcile_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    max_changes: Annotated[
        int | None,
        typer.Option(
            "--max-changes", min=0, help="Refuse plans with more writes (policy.max_changes)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Apply even above max_changes.")] = False,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    observations: ObservationsOption = None,
    scan_too: ScanTooOption = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file", help="Write Prometheus metrics (textfile collector format)."
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="With --dry-run: exit 3 when there are changes."),
    ] = False,
) -> None:
    """Apply the plan to the ticket system: create, correct, escalate, resolve, reopen."""
    state: AppState = ctx.obj
    started = time.monotonic()
    with errors_mapped(debug=state.debug):
        from ticketbridge.cli.tables import apply_report, plan_report

        outcome = _plan_or_apply(
            state,
            observations,
            scan_too,
            output_format,
            dry_run=dry_run,
            force=force,
            max_changes=max_changes,
        )
        if metrics_file is not None:
            from ticketbridge.app.metrics import write_metrics

            duration = time.monotonic() - started
            write_metrics(metrics_file, outcome.observations, outcome, duration=duration)
        if output_format is TableOrJson.json:
            json_out(outcome.as_dict())
        elif outcome.report is None:
            emit(plan_report(outcome.plan))
        else:
            emit(apply_report(outcome.report))
    if outcome.report is not None and not outcome.report.ok:
        raise typer.Exit(EXIT_RUN_ERROR)
    if outcome.report is None and detailed_exitcode and outcome.plan.writes:
        raise typer.Exit(EXIT_CHANGES_PENDING)


@app.command("tickets")
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
) -> None:
    """The tickets ticketbridge tracks, from whichever backend is configured."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
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
        listed = sorted(
            (ticket for ticket in tickets if show_all or ticket.marker_ids),
            key=lambda ticket: (ticket.created, ticket.key),
        )
        if output_format is TableOrJson.json:
            json_out({"tickets": [ticket_to_json(ticket) for ticket in listed]})
        else:
            emit(tickets_table(listed))


@app.command("doctor")
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


@app.command("report")
def report_command(
    ctx: typer.Context,
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.html,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="First day (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="Last day (UTC).")
    ] = None,
) -> None:
    """The change-management evidence for an auditor, from the verified audit trail."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.app.gather import resolve_relative
        from ticketbridge.audit.formats import render
        from ticketbridge.audit.report import build_report

        settings = state.settings()
        path = resolve_relative(settings.audit.log_path, state.config_path)
        report = build_report(
            path, since.date() if since else None, until.date() if until else None, utcnow()
        )
        with output_to(output) as handle:
            handle.write(render(report, output_format.value))
        if not report.log.ok:
            # The report is still written (the auditor sees the break and what surrounds it,
            # every row from it on marked unverified), but it is not evidence: exit 1.
            fail(EXIT_RUN_ERROR, f"audit log does not verify: {report.log.problem}")


audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
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


@app.command("demo")
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


def main() -> None:
    app()
