"""What every command shares: output formats, the repeated options, and the state the global
options leave for a command (the config path, loaded once, on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ticketbridge.app.logs import register_settings_secrets

if TYPE_CHECKING:
    from ticketbridge.app.config import Settings


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


@dataclass
class AppState:
    config_path: Path
    config_required: bool
    debug: bool
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from ticketbridge.app.config import (
                load_settings,  # pydantic: only when a command needs it
            )

            self._settings = load_settings(self.config_path, required=self.config_required)
            register_settings_secrets(self._settings)  # before anything can echo them
        return self._settings


class ReportFormat(StrEnum):
    html = "html"
    csv = "csv"
    json = "json"
    md = "md"


ObservationsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--observations",
        help=(
            "JSONL from `scan --format jsonl` (repeatable; a directory of *.jsonl or a glob),"
            " instead of a local scan."
        ),
    ),
]


ScanTooOption = Annotated[
    bool, typer.Option("--scan", help="With --observations: also scan locally and merge.")
]


ExpiringWithinOption = Annotated[
    int | None,
    typer.Option(
        "--expiring-within",
        metavar="DAYS",
        min=0,
        help="Only certificates expiring within DAYS days (expired ones included).",
    ),
]


NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        metavar="PATTERN",
        help="Only names or hosts matching PATTERN ('*.example.com', 'api*'; case-insensitive).",
    ),
]
