"""What a failing ticket write says reaches the audit trail scrubbed, on one short line."""

from __future__ import annotations

import json
from pathlib import Path

from support.builders import NOW, WILDCARD, WILDCARD_EXPIRY, served
from ticketbridge.app.config import AuditSettings, Settings
from ticketbridge.app.run import reconcile
from ticketbridge.errors import PermanentBackendError
from ticketbridge.infra.scrub import register_secret
from ticketbridge.testing import InMemoryTicketSystem

TOKEN = "ATATT3xAuditTrailToken0123456789abcdefghijk"


def test_an_echoed_secret_and_a_server_page_stay_out_of_the_audit_trail(tmp_path: Path) -> None:
    register_secret(TOKEN)  # as loading the configuration does for jira.token
    page = f"<html>\x1b[31mBad Request\r\nauthorization: basic {TOKEN.lower()}\r\n" + "x" * 50_000
    system = InMemoryTicketSystem(clock=lambda: NOW)
    system.fail_on_write(1, PermanentBackendError(f"create: Jira answered HTTP 400: {page}"))
    settings = Settings(audit=AuditSettings(log_path=str(tmp_path / "audit.jsonl")))
    config = tmp_path / "ticketbridge.toml"
    config.write_text("")  # relative paths (the run lock) resolve next to an existing config
    reconcile(
        settings,
        config,
        [served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY)],
        dry_run=False,
        force=True,
        max_changes=None,
        now=NOW,
        tickets=system,
    )
    text = (tmp_path / "audit.jsonl").read_text()
    assert TOKEN.lower() not in text.lower()
    errors = [
        record["data"]["error"]
        for record in map(json.loads, text.splitlines())
        if record["event"] == "action" and record["data"].get("error")
    ]
    assert errors, "the failed write is in the trail"
    for error in errors:
        assert "HTTP 400" in error and len(error) <= 500
        assert "\x1b" not in error and "\n" not in error and "\r" not in error
