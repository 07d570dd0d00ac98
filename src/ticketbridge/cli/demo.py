"""`ticketbridge demo`: the incident replayed on loopback, reconciled end to end, in seconds."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from ticketbridge.app.config import Settings, load_settings
from ticketbridge.app.run import gather, inventory_of, make_plan, reconcile
from ticketbridge.app.wiring import pager_from_settings, ticket_system
from ticketbridge.audit import verify_log
from ticketbridge.cli.tables import (
    apply_report,
    plan_report,
    printable,
    render_verification,
    scan_report,
    tickets_table,
)
from ticketbridge.core.model import Ticket
from ticketbridge.testing.servers import DemoEndpoint, incident_pki, incident_servers
from ticketbridge.tickets.local import LocalTicketStore

HAND_FILED_SUMMARY = "Renew *.example.com wildcard certificate"


@dataclass
class _Receiver:
    """A local webhook receiver standing in for on-call: it records what was paged."""

    events: list[dict[str, object]] = field(default_factory=list)

    @contextlib.contextmanager
    def serving(self, address: str) -> Iterator[str]:
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                events.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = ThreadingHTTPServer((address, 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://{address}:{server.server_address[1]}/page"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=2)


def _config_text(endpoints: list[DemoEndpoint], workdir: Path, webhook_url: str) -> str:
    by_host: dict[str, list[DemoEndpoint]] = {}
    for endpoint in endpoints:
        by_host.setdefault(endpoint.host, []).append(endpoint)
    blocks = []
    for host, served in by_host.items():
        addresses = ", ".join(f'"{endpoint.address}"' for endpoint in served)
        blocks.append(
            f'[[endpoints]]\nhost = "{host}"\nport = {served[0].port}\naddresses = [{addresses}]\n'
        )
    return (
        "# Written by `ticketbridge demo`: the incident, served on loopback.\n"
        "[discovery]\nconcurrency = 8\nconnect_timeout = 2.0\nhandshake_timeout = 3.0\n"
        'ca_bundle = "demo-root.pem"\n\n'  # relative to the config file, wherever it is
        + "\n".join(blocks)
        + '\n[tickets]\nbackend = "local"\nlocal_path = "ticketbridge.db"\n'
        + f'\n[[alerts.webhook]]\nurl = "{webhook_url}"\n'
    )


@dataclass
class _Stage:
    """The incident as set up on loopback: config, store, servers, the hand-filed ticket."""

    workdir: Path
    config_path: Path
    settings: Settings
    store: LocalTicketStore
    endpoints: list[DemoEndpoint]
    receiver: _Receiver
    hand_filed: Ticket
    www_due: date


def run_demo(console: Console, now: datetime, workdir: Path | None = None) -> bool:
    """Replay the incident and reconcile it; True when the second plan is empty."""
    with contextlib.ExitStack() as stack:
        kept = workdir is not None
        if workdir is None:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="ticketbridge-demo-"))
            )
        stage = _set_the_stage(stack, workdir, now)
        console.print(Rule("[bold]The incident, on loopback"))
        console.print(_story(stage.endpoints, stage.hand_filed.key, stage.www_due))
        converged = _reconcile_the_incident(console, stage, now)
        console.print(Rule("[bold]7. ticketbridge audit verify — the tamper-evident trail"))
        console.print(render_verification(verify_log(workdir / "ticketbridge-audit.jsonl")))
        if kept:
            console.print(
                Text(
                    f"The demo's config, store and certificates are kept in {workdir}.", style="dim"
                )
            )
        return converged


def _set_the_stage(stack: contextlib.ExitStack, workdir: Path, now: datetime) -> _Stage:
    workdir.mkdir(parents=True, exist_ok=True)
    pki = incident_pki(now)
    (workdir / "demo-root.pem").write_bytes(pki.root.pem)
    endpoints = stack.enter_context(incident_servers(pki, workdir))
    receiver = _Receiver()
    webhook_url = stack.enter_context(receiver.serving("127.0.0.15"))
    config_path = workdir / "ticketbridge.toml"
    config_path.write_text(_config_text(endpoints, workdir, webhook_url), encoding="utf-8")
    store = LocalTicketStore(workdir / "ticketbridge.db", clock=lambda: now)
    www_due = (pki.www.certificate.not_valid_after_utc - timedelta(days=21)).date()
    hand_filed = store.add_manual_ticket(
        HAND_FILED_SUMMARY, www_due, created=now - timedelta(days=60)
    )
    return _Stage(
        workdir=workdir,
        config_path=config_path,
        settings=load_settings(config_path),
        store=store,
        endpoints=endpoints,
        receiver=receiver,
        hand_filed=hand_filed,
        www_due=www_due,
    )


def _reconcile_the_incident(console: Console, stage: _Stage, now: datetime) -> bool:
    """Scan, plan, reconcile and plan again, as an operator would; True when nothing is left."""
    settings, config_path = stage.settings, stage.config_path
    console.print(Rule("[bold]1. ticketbridge scan — what is actually served"))
    observations = gather(settings, config_path, {})
    console.print(scan_report(inventory_of(settings, observations), now))

    console.print(Rule("[bold]2. The tickets before — a hand-filed renewal with www's due date"))
    console.print(tickets_table(stage.store.all_tickets()))

    console.print(Rule("[bold]3. ticketbridge plan — what would change, and why"))
    tickets = ticket_system(settings, config_path, clock=lambda: now)
    console.print(
        plan_report(make_plan(settings, config_path, observations, tickets, now=now, paging=True))
    )

    console.print(Rule("[bold]4. ticketbridge reconcile — applied"))
    outcome = reconcile(
        settings,
        config_path,
        observations,
        dry_run=False,
        force=False,
        max_changes=None,
        now=now,
        pager=pager_from_settings(settings.alerts),
        tickets=tickets,
    )
    assert outcome.report is not None
    console.print(apply_report(outcome.report))
    _show_the_evidence(console, stage)

    console.print(Rule("[bold]6. ticketbridge plan, again — nothing left to do"))
    again = make_plan(
        settings, config_path, gather(settings, config_path, {}), tickets, now=now, paging=True
    )
    console.print(plan_report(again))
    return again.writes == 0


def _show_the_evidence(console: Console, stage: _Stage) -> None:
    console.print(Rule("[bold]5. The tickets after"))
    console.print(tickets_table(stage.store.all_tickets()))
    comments = stage.store.comments(stage.hand_filed.key)
    if comments:
        console.print(
            Panel(
                Text(printable(comments[-1].body, 4000, keep_newlines=True)),
                title=f"Evidence comment on {stage.hand_filed.key}",
                title_align="left",
            )
        )
    for event in stage.receiver.events:
        console.print(
            Panel(
                Text(json.dumps(event, indent=2, ensure_ascii=False)),
                title="On-call was paged (webhook received)",
                title_align="left",
            )
        )


def _story(endpoints: list[DemoEndpoint], key: str, www_due: object) -> Text:
    lines = [
        f"{endpoint.host:<17} {endpoint.address}:{endpoint.port}  {endpoint.role}"
        for endpoint in endpoints
    ]
    lines.append("")
    lines.append(
        f'{key} "{HAND_FILED_SUMMARY}" was filed by hand with due date {www_due}, '
        "copied from www.example.com — which no longer serves the wildcard."
    )
    return Text("\n".join(lines))
