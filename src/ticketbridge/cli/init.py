"""`ticketbridge init`: write a starter configuration and say the next three commands."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ticketbridge.app.config_path import DEFAULT_CONFIG_PATH
from ticketbridge.app.starter import parse_endpoint, starter_config
from ticketbridge.cli.exits import errors_mapped
from ticketbridge.cli.options import AppState
from ticketbridge.errors import ConfigError, UsageError

INIT_EPILOG = """\
Examples:

  ticketbridge init app.example.com api.example.com mail.example.com:465

  ticketbridge --config /etc/ticketbridge.toml init www.example.com --jira https://example.atlassian.net --project OPS

  ticketbridge init --from-zone zones/db.example.com
"""


def init_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            help="Names to watch: host, host:port, [IPv6]:port or an https:// URL.",
            show_default=False,
        ),
    ] = None,
    jira_url: Annotated[
        str,
        typer.Option("--jira", metavar="URL", help="File tickets in this Jira (with --project)."),
    ] = "",
    project: Annotated[
        str, typer.Option("--project", metavar="KEY", help="The Jira project key (with --jira).")
    ] = "",
    zones: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-zone",
            metavar="FILE",
            dir_okay=False,
            help="Take names from this RFC 1035 zone file (repeatable): [[sources.zone]].",
        ),
    ] = None,
    origin: Annotated[
        str, typer.Option("--origin", metavar="ZONE", help="The zone's origin, if it sets none.")
    ] = "",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (the embedded ticket store unless --jira is given)."""
    state: AppState = ctx.obj
    with errors_mapped(debug=state.debug):
        path = state.config_path
        endpoints = list(dict.fromkeys(parse_endpoint(name) for name in names or ()))
        named_zones = [_as_seen_from(path, zone) for zone in zones or ()]
        text = starter_config(
            endpoints,
            jira_url=jira_url.strip(),
            project=project.strip(),
            zones=named_zones,
            origin=origin.strip(),
        )
        if path.exists() and not force:
            raise UsageError(f"init: {path} already exists (--force overwrites it)")
        from_zones = _write_checked(path, text)
    where = "" if path == DEFAULT_CONFIG_PATH else f" --config {path}"
    backend = f"Jira project {project.strip()}" if jira_url else "the embedded ticket store"
    zoned = f" ({from_zones} from {len(named_zones)} zone file(s))" if named_zones else ""
    total = len(endpoints) + from_zones
    typer.echo(f"Wrote {path}: {total} endpoint(s){zoned}, tickets in {backend}.")
    if not endpoints and not named_zones:
        typer.echo(f"Add the names you serve under [[endpoints]] in {path} first.")
    typer.echo("Next:")
    typer.echo(f"  ticketbridge{where} doctor    check the config and the ticket system")
    typer.echo(f"  ticketbridge{where} scan      see what every name actually serves")
    typer.echo(f"  ticketbridge{where} plan      see which tickets would be filed or corrected")


def _as_seen_from(config: Path, zone: Path) -> str:
    """The zone file's path as the config names it: relative to the config's directory, where
    every relative path in the config is read from."""
    if not zone.is_file():
        raise UsageError(f"init: --from-zone {zone}: no such file")
    base = (config.parent if str(config.parent) else Path()).resolve()
    return os.path.relpath(zone.resolve(), base)


def _write_checked(path: Path, text: str) -> int:
    """Write through a temporary file that must load as a configuration first (and whose zone
    files must parse): a bad --jira URL or zone is reported, and no half-written or invalid file
    is ever left at `path`. The number of endpoints the zones gave."""
    directory = path.parent if str(path.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=".ticketbridge-init-", dir=directory)
    except OSError as exc:
        raise UsageError(f"init: cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        from ticketbridge.app.config import load_settings
        from ticketbridge.app.sources import read_sources

        try:
            settings = load_settings(Path(temporary), environ={})
            zoned = (
                len(read_sources(settings, Path(temporary)).specs) if settings.sources.zone else 0
            )
        except ConfigError as exc:
            problem = str(exc).replace(temporary, str(path))
            raise UsageError(f"init: {problem}") from None
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
        return zoned
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
