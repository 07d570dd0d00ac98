"""The typer command line: parse, call the service, render, and map errors to exit codes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ticketbridge import __version__
from ticketbridge.codec import certificate_to_json, observation_to_json, observations_jsonl
from ticketbridge.config import (
    ConfigError,
    Settings,
    environment,
    load_settings,
    resolve_config_path,
)
from ticketbridge.logs import configure_logging
from ticketbridge.render import plain_console, scan_report
from ticketbridge.service import ScanResult, scan, utcnow

log = logging.getLogger("ticketbridge")

EXIT_OK = 0
EXIT_RUN_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES_PENDING = 3
EXIT_UNSAFE_PLAN = 4
EXIT_LOCKED = 5


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class ScanFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


@dataclass
class AppState:
    config_path: Path
    config_required: bool
    debug: bool
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, required=self.config_required)
        return self._settings


app = typer.Typer(
    name="ticketbridge",
    help="Track the certificates actually served and keep their renewal tickets honest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

stderr = Console(stderr=True)


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
            dir_okay=False,
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
    configure_logging(debug=debug, json_format=log_format is LogFormat.json)
    path, required = resolve_config_path(config, environment())
    ctx.obj = AppState(config_path=path, config_required=required, debug=debug)


def _fail(code: int, message: str) -> NoReturn:
    stderr.print(f"ticketbridge: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors_mapped(state: AppState) -> Iterator[None]:
    """Known errors become one line and an exit code; anything else gets a hint (certbot style)."""
    try:
        yield
    except typer.Exit:
        raise
    except ConfigError as exc:
        if state.debug:
            log.exception("configuration error")
        _fail(EXIT_USAGE, str(exc))
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - replaces the closed stdout
        raise typer.Exit(EXIT_OK) from None
    except Exception as exc:
        if state.debug:
            raise
        log.debug("unexpected error", exc_info=True)
        _fail(
            EXIT_RUN_ERROR,
            f"{type(exc).__name__}: {exc} (run with --debug for the traceback)",
        )


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr, only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bar = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )
    task = bar.add_task("probe", total=None)

    def update(completed: int, total: int) -> None:
        bar.update(task, completed=completed, total=total)

    with bar:
        yield update


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as exc:
        _fail(EXIT_USAGE, f"--output {path}: {exc.strerror or exc}")
    with handle:
        yield handle


def _write_scan(
    result: ScanResult, output_format: ScanFormat, handle: TextIO, now_text: str
) -> None:
    if output_format is ScanFormat.jsonl:
        handle.writelines(observations_jsonl(result.observations))
        return
    if output_format is ScanFormat.json:
        document = {
            "generated_at": now_text,
            "observations": [observation_to_json(o) for o in result.observations],
            "certificates": [certificate_to_json(c) for c in result.inventory.certificates],
        }
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
        return
    raise AssertionError(output_format)


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    output_format: Annotated[
        ScanFormat, typer.Option("--format", help="table for people; json or jsonl for machines.")
    ] = ScanFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Probe every configured endpoint and file; show what is actually served."""
    state: AppState = ctx.obj
    with _errors_mapped(state):
        settings = state.settings()
        with _progress(enabled=True) as progress:
            result = scan(settings, state.config_path, environment(), progress=progress)
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
            console = Console() if output is None else plain_console()
            with _output(output) as handle:
                if output is not None:
                    console = Console(file=handle, width=160, color_system=None)
                console.print(scan_report(result.inventory, now))
            return
        with _output(output) as handle:
            _write_scan(result, output_format, handle, now.isoformat().replace("+00:00", "Z"))


def main() -> None:
    app()
