"""`reconcile` paging Opsgenie and Slack as a scheduled job would: a sink down, then back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.oncall_receivers import Answer, OpsgenieReceiver, SlackReceiver, serving
from support.tlsservers import TLSServer
from ticketbridge.core.plan import PAGED_LABEL
from ticketbridge.tickets.local import LocalTicketStore

WILDCARD_ID = hashlib.sha256(b"*.example.com\nexample.com").hexdigest()[:16]
KEY = "cli-genie-key"


@pytest.fixture
def receivers() -> Iterator[tuple[OpsgenieReceiver, SlackReceiver]]:
    with (
        serving(OpsgenieReceiver(api_key=KEY), host="127.0.0.9") as opsgenie,
        serving(SlackReceiver(), host="127.0.0.10") as slack,
    ):
        yield opsgenie, slack


def _config(tmp_path: Path, port: int, opsgenie: OpsgenieReceiver, slack: SlackReceiver) -> Path:
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {port}\naddresses = ["127.0.0.6"]\n\n'
        for host in ("app.example.com", "api.example.com")
    )
    path = tmp_path / "ticketbridge.toml"
    path.write_text(
        '[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        "[policy]\npage_within_days = 10\n\n"
        '[tickets]\nlocal_path = "tickets.db"\n\n[audit]\nlog_path = "audit.jsonl"\n\n'
        f'[[alerts.opsgenie]]\nurl = "{opsgenie.url}"\napi_key_env = "OPSGENIE_KEY"\n\n'
        f'[[alerts.slack]]\nwebhook_url_env = "SLACK_HOOK"\n\n{endpoints}',
        encoding="utf-8",
    )
    return path


def test_a_sink_down_fails_the_run_after_the_ticket_writes_and_pages_next_run(
    tmp_path: Path,
    server: TLSServer,
    pki: dict[str, Issued],
    receivers: tuple[OpsgenieReceiver, SlackReceiver],
) -> None:
    opsgenie, slack = receivers
    write_pem(tmp_path / "root.pem", pki["root"])
    config = _config(tmp_path, server.port, opsgenie, slack)
    env = {"OPSGENIE_KEY": KEY, "SLACK_HOOK": slack.url + slack.hook_path}
    opsgenie.faults.extend(Answer(503) for _ in range(20))

    first = run_cli("--config", str(config), "reconcile", env=env, cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    (ticket,) = LocalTicketStore(tmp_path / "tickets.db").open_tickets()
    assert f"tb-{WILDCARD_ID}" in ticket.labels  # the ticket was written all the same
    assert PAGED_LABEL not in ticket.labels  # not every sink took the page
    assert len(slack.messages) == 1 and opsgenie.alerts == {}

    opsgenie.faults.clear()
    second = run_cli("--config", str(config), "reconcile", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(slack.messages) == 1  # Slack already had it: not posted twice
    alert = opsgenie.alerts[WILDCARD_ID]
    assert (alert["status"], alert["count"]) == ("open", 1)
    assert alert["request"]["details"]["ticket"] == ticket.key
    (ticket,) = LocalTicketStore(tmp_path / "tickets.db").open_tickets()
    assert PAGED_LABEL in ticket.labels

    third = run_cli("--config", str(config), "reconcile", env=env, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert len(slack.messages) == 1 and opsgenie.alerts[WILDCARD_ID]["count"] == 1
    assert opsgenie.refused == [] and slack.refused == []


def test_a_missing_key_variable_is_one_line_naming_the_key(
    tmp_path: Path,
    server: TLSServer,
    pki: dict[str, Issued],
    receivers: tuple[OpsgenieReceiver, SlackReceiver],
) -> None:
    opsgenie, slack = receivers
    write_pem(tmp_path / "root.pem", pki["root"])
    config = _config(tmp_path, server.port, opsgenie, slack)
    # `plan` needs no secret: it sends nothing. `reconcile` refuses before it scans.
    planned = run_cli("--config", str(config), "plan", "--format", "json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "page" in {action["kind"] for action in json.loads(planned.stdout)["actions"]}
    result = run_cli("--config", str(config), "reconcile", env={"SLACK_HOOK": "x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ticketbridge: error: {config}: alerts.opsgenie[0].api_key_env: "
        "environment variable OPSGENIE_KEY is not set"
    )
