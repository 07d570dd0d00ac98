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
from ticketbridge.app.config_path import environment, resolve_config_path
from ticketbridge.app.logs import configure_logging
from ticketbridge.app.signals import install_sigterm_handler, run_deadline
from ticketbridge.cli import helptext, saved
from ticketbridge.cli.exits import errors_mapped, fail
from ticketbridge.cli.init import INIT_EPILOG, init_command
from ticketbridge.cli.lookups import (
    audit_verify_command,
    demo_command,
    doctor_command,
    tickets_command,
)
from ticketbridge.cli.options import (
    AppState,
    ExpiringWithinOption,
    LogFormat,
    NameOption,
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
    write_progress,
    write_scan,
)
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import (
    EXIT_CHANGES_PENDING,
    EXIT_RUN_ERROR,
)
from ticketbridge.infra.clock import utcnow_seconds as utcnow

# Commands import what they use when they run (rich, the reconciler, pydantic schemas): a
# scheduled `scan --format jsonl` should not pay for a table renderer at start-up.
if TYPE_CHECKING:
    from ticketbridge.app.config import Settings
    from ticketbridge.app.run import RunOutcome
    from ticketbridge.core.model import Observation
    from ticketbridge.discovery.workers import WorkerPool

log = logging.getLogger("ticketbridge")

app = typer.Typer(
    name="ticketbridge",
    help="Track the certificates actually served and keep their renewal tickets honest.",
    epilog=helptext.MAIN,
    no_args_is_help=True,
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
def _pool_unless(no_scan: object, state: AppState) -> Iterator[WorkerPool | None]:
    """Probing workers, forked before the configuration is loaded, when this run will scan
    enough endpoints for them to pay (app/scan_size.py)."""
    from ticketbridge.app.scan_size import may_need_workers

    if no_scan or not may_need_workers(state.config_path, environment()):
        yield None
        return
    from ticketbridge.discovery.workers import prefork

    with prefork() as pool:
        yield pool


@app.command("scan", epilog=helptext.SCAN)
def scan_command(
    ctx: typer.Context,
    output_format: Annotated[
        ScanFormat, typer.Option("--format", help="table for people; json or jsonl for machines.")
    ] = ScanFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    expiring_within: ExpiringWithinOption = None,
    name: NameOption = None,
    untrusted: Annotated[
        bool,
        typer.Option("--untrusted", help="Only certificates some endpoint serves untrusted."),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="K/N: only the endpoints of shard K of N (0 <= K < N)."),
    ] = None,
) -> None:
    """Probe every configured endpoint and file; show what is actually served."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug), _pool_unless(False, state) as pool:
        from ticketbridge.app.sharding import scan_shard, shard_option
        from ticketbridge.app.views import ScanFilter

        settings = state.settings()
        which = shard_option(shard)
        with progress_bar(enabled=True) as progress, run_deadline(settings.run.deadline):
            result = scan_shard(
                settings, state.config_path, environment(), which, progress=progress, pool=pool
            )
        now = utcnow()
        result = ScanFilter(expiring_within, name, untrusted).apply(result, now)
        log.info(
            "scan finished",
            extra={
                "certificates": len(result.inventory.certificates),
                "observations": len(result.observations),
                "unobserved": len(result.inventory.unobserved),
            },
        )
        if output_format is ScanFormat.table:
            from ticketbridge.cli.layout import print_fitted
            from ticketbridge.cli.tables import scan_report

            with output_to(output) as handle:
                print_fitted(
                    scan_report(result.inventory, now, settings.policy.hsts_min_max_age),
                    None if output is None else handle,
                )
                if result.sources or result.ct is not None:
                    from ticketbridge.app.source_report import source_lines

                    handle.write("\n".join(source_lines(result.sources, result.ct)) + "\n")
            return
        with output_to(output) as handle:
            write_scan(result, output_format, handle, iso_z(now), settings.policy.hsts_min_max_age)


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

    with _pool_unless(observation_files and not scan_too, state) as pool:
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
    approved: saved.SavedPlan | None = None,
) -> RunOutcome:
    """Validate, (unless a dry run) lock, gather, decide and apply: what `plan` and
    `reconcile` share."""
    from ticketbridge.app.run import reconcile
    from ticketbridge.app.wiring import pager_of

    with (
        _observer(state, observations, scan_too, output_format) as (settings, observe),
        run_deadline(settings.run.deadline),
        write_progress(enabled=not dry_run) as on_result,
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
            approved=approved,
            on_result=on_result,
        )


@app.command("plan", epilog=helptext.PLAN)
def plan_command(
    ctx: typer.Context,
    output_format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    observations: ObservationsOption = None,
    scan_too: ScanTooOption = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when the plan has changes.")
    ] = False,
    out: saved.OutOption = None,
    from_file: saved.FromOption = None,
) -> None:
    """Show what reconcile would do; writes nothing anywhere (but the --out file)."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        from ticketbridge.cli.tables import plan_report

        if from_file is not None:
            saved.show_saved(from_file, output_format, detailed_exitcode)
        outcome = _plan_or_apply(state, observations, scan_too, output_format, dry_run=True)
        saved.save_plan(out, outcome)
        if output_format is TableOrJson.json:
            json_out(outcome.plan.as_dict())
        else:
            emit(plan_report(outcome.plan))
    if detailed_exitcode and outcome.plan.writes:
        raise typer.Exit(EXIT_CHANGES_PENDING)


@app.command("reconcile", epilog=helptext.RECONCILE)
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
    plan_file: saved.PlanFileOption = None,
    approved_by: saved.ApprovedByOption = None,
) -> None:
    """Apply the plan to the ticket system: create, correct, escalate, resolve, reopen."""
    state: AppState = ctx.obj
    started = time.monotonic()
    with errors_mapped(debug=state.debug), saved.stale_reported(output_format):
        from ticketbridge.cli.tables import apply_report, plan_report

        outcome = _plan_or_apply(
            state,
            observations,
            scan_too,
            output_format,
            dry_run=dry_run,
            force=force,
            max_changes=max_changes,
            approved=saved.approval_of(plan_file, approved_by),
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


@app.command("report", epilog=helptext.REPORT)
def report_command(
    ctx: typer.Context,
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.html,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since", formats=["%Y-%m-%d"], help="First day (UTC); default: 90 days back."
        ),
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
        from ticketbridge.audit.report import build_report, default_since

        settings = state.settings()
        path = resolve_relative(settings.audit.log_path, state.config_path)
        now = utcnow()
        last_day = until.date() if until else None
        report = build_report(
            path,
            since.date() if since else default_since(last_day, now.date()),
            last_day,
            now,
            policy=settings.policy.model_dump(),
            schedule_hours=settings.audit.schedule_hours,
        )
        with output_to(output) as handle:
            handle.write(render(report, output_format.value))
        if not report.log.ok:
            # The report is still written (the auditor sees the break and what surrounds it,
            # every row from it on marked unverified), but it is not evidence: exit 1.
            fail(EXIT_RUN_ERROR, f"audit log does not verify: {report.log.problem}")


app.command("tickets", epilog=helptext.TICKETS)(tickets_command)
app.command("doctor", epilog=helptext.DOCTOR)(doctor_command)
app.command("demo", epilog=helptext.DEMO)(demo_command)
app.command("init", epilog=INIT_EPILOG)(init_command)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
audit_app.command("verify", epilog=helptext.AUDIT_VERIFY)(audit_verify_command)
app.add_typer(audit_app, name="audit")


def main() -> None:
    app()
