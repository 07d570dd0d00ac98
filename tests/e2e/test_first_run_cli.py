"""The first ten minutes as a new user lives them (issue 19): from no config to a first plan using
only what the command line prints, help that reads like the tool, filters, a pipe that reads."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.tlsservers import TLSServer

COMMANDS = ("scan", "plan", "reconcile", "tickets", "doctor", "report", "demo", "init")


def printed_next_commands(stdout: str) -> list[list[str]]:
    """The command lines `init` tells the user to run next, as they would copy them."""
    lines = stdout.split("Next:\n", 1)[1].splitlines()
    return [shlex.split(line.strip().split("  ")[0]) for line in lines if line.strip()]


def test_from_nothing_to_a_first_plan_using_only_what_the_cli_prints(
    tmp_path: Path, server: TLSServer
) -> None:
    home = tmp_path / "mine"
    home.mkdir()
    nothing = run_cli("plan", cwd=home)
    assert nothing.returncode == 2
    assert "no configuration found" in nothing.stderr and "ticketbridge init" in nothing.stderr

    name = f"127.0.0.6:{server.port}"
    made = run_cli("init", name, cwd=home)
    assert made.returncode == 0, made.stderr
    assert (home / "ticketbridge.toml").is_file()
    steps = printed_next_commands(made.stdout)
    assert [step[1] for step in steps] == ["doctor", "scan", "plan"]

    outputs = {}
    for step in steps:
        assert step[0] == "ticketbridge"
        ran = run_cli(*step[1:], cwd=home)
        assert ran.returncode == 0, (step, ran.stdout, ran.stderr)
        outputs[step[1]] = ran.stdout
    # The scan found the wildcard the server sends without SNI; the plan files its ticket.
    assert "*.example.com" in outputs["scan"] and f"127.0.0.6:{server.port}" in outputs["scan"]
    assert "create" in outputs["plan"] and "*.example.com" in outputs["plan"]

    again = run_cli("init", "www.example.com", cwd=home)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert name.split(":")[0] in (home / "ticketbridge.toml").read_text(encoding="utf-8")
    forced = run_cli("init", "www.example.com", "--force", cwd=home)
    assert forced.returncode == 0, forced.stderr
    assert '"www.example.com"' in (home / "ticketbridge.toml").read_text(encoding="utf-8")


def test_init_for_jira_names_the_project_and_refuses_half_an_answer(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "tb.toml"
    config.parent.mkdir()
    half = run_cli(
        "--config", str(config), "init", "app.example.com", "--jira", "https://j.example.com"
    )
    assert half.returncode == 2 and "--project" in half.stderr
    assert not config.exists()

    made = run_cli(
        "--config", str(config), "init", "app.example.com",
        "--jira", "https://example.atlassian.net", "--project", "OPS",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = config.read_text(encoding="utf-8")
    assert 'backend = "jira"' in text and 'project = "OPS"' in text
    assert "TICKETBRIDGE_JIRA__TOKEN" in text  # the token never goes in the file
    assert f"ticketbridge --config {config} doctor" in made.stdout

    bad = run_cli("--config", str(tmp_path / "x.toml"), "init", "not a host")
    assert bad.returncode == 2 and "'not a host'" in bad.stderr


ZONE = """\
$ORIGIN example.com.
$TTL 3600
@   IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
    IN NS ns1.example.com.
app IN A 127.0.0.11
api IN A 127.0.0.13
www IN CNAME app
"""


def test_init_from_a_zone_names_it_as_a_source_and_refuses_a_broken_one(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "db.example.com").write_text(ZONE, encoding="utf-8")
    home = tmp_path / "conf"
    home.mkdir()
    made = run_cli("init", "--from-zone", "../zones/db.example.com", cwd=home)
    assert made.returncode == 0, made.stderr
    assert "3 endpoint(s) (3 from 1 zone file(s))" in made.stdout  # app, api, www
    text = (home / "ticketbridge.toml").read_text(encoding="utf-8")
    assert '[[sources.zone]]\nfile = "../zones/db.example.com"' in text  # as the config reads it
    assert "[[endpoints]]\nhost" not in text

    (zones / "db.example.com").write_text(ZONE + "mail IN A not-an-address\n", encoding="utf-8")
    broken = run_cli("init", "--from-zone", "../zones/db.example.com", "--force", cwd=home)
    assert broken.returncode == 2
    assert "db.example.com:8" in broken.stderr  # the file and the line
    assert '"../zones/db.example.com"' in (home / "ticketbridge.toml").read_text(encoding="utf-8")


def test_help_reads_like_the_tool() -> None:
    main = run_cli("--help", env={"COLUMNS": "100"})
    assert main.returncode == 0
    assert "<bool>" not in main.stdout  # flags take no value
    assert "Exit codes" in main.stdout and "6  a saved plan is stale" in main.stdout
    assert "--install-completion" in main.stdout
    for command in COMMANDS:
        shown = run_cli(command, "--help", env={"COLUMNS": "100"})
        assert shown.returncode == 0, command
        assert "<bool>" not in shown.stdout, command
        assert "Examples" in shown.stdout and f"ticketbridge {command}" in shown.stdout, command
    completion = run_cli("--show-completion", "bash")
    assert completion.returncode == 0 and "complete" in completion.stdout


@pytest.fixture
def fleet(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    """www (300 days, trusted) and the wildcard on app (5 days, trusted) on the incident server;
    and app again on a name the wildcard does not cover, so a client would refuse it."""
    write_pem(tmp_path / "root.pem", pki["root"])
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["127.0.0.6"]\n\n'
        for host in ("app.example.com", "www.example.com")
    )
    endpoints += (
        f'[[endpoints]]\nhost = "shop.example.net"\nport = {server.port}\n'
        'addresses = ["127.0.0.6"]\n\n'
    )
    (tmp_path / "ticketbridge.toml").write_text(
        f'[discovery]\nca_bundle = "root.pem"\n\n{endpoints}'
        '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n',
        encoding="utf-8",
    )
    return tmp_path / "ticketbridge.toml"


def scanned(config: Path, *filters: str) -> tuple[set[str], str]:
    as_json = run_cli("--config", str(config), "scan", "--format", "json", *filters)
    table = run_cli("--config", str(config), "scan", *filters)
    assert as_json.returncode == 0 and table.returncode == 0, as_json.stderr + table.stderr
    document = json.loads(as_json.stdout)
    hosts = {o["endpoint"]["host"] for o in document["observations"]}
    assert hosts == {h for c in document["certificates"] for h in
                     (label.split(":")[0] for label in c["endpoints"])}  # fmt: skip
    return hosts, table.stdout


def test_scan_filters_agree_between_json_and_the_table(fleet: Path) -> None:
    everything, _ = scanned(fleet)
    assert everything == {"app.example.com", "www.example.com", "shop.example.net"}

    soon, table = scanned(fleet, "--expiring-within", "30")
    assert soon == {"app.example.com", "shop.example.net"}
    assert "app.example.com" in table and "www.example.com" not in table

    named, table = scanned(fleet, "--name", "www*")
    assert named == {"www.example.com"}
    assert "www.example.com" in table and "app.example.com" not in table

    refused, table = scanned(fleet, "--untrusted")
    assert refused == {"app.example.com", "shop.example.net"}  # one certificate: shop fails
    assert "does not cover" in table or "shop.example.net" in table


def test_a_reconcile_in_a_pipe_logs_a_line_per_write_and_tickets_filter(fleet: Path) -> None:
    ran = run_cli("--config", str(fleet), "reconcile")
    assert ran.returncode == 0, ran.stderr
    writes = [line for line in ran.stderr.splitlines() if "ticketbridge.writes" in line]
    assert any(" create " in line and ": done" in line for line in writes), ran.stderr

    due_soon = run_cli(
        "--config", str(fleet), "tickets", "--expiring-within", "0", "--format", "json"
    )
    listed = json.loads(due_soon.stdout)["tickets"]
    assert len(listed) == 1 and "*.example.com" in listed[0]["summary"]  # due already (5 - 21 days)
    by_name = run_cli("--config", str(fleet), "tickets", "--name", "www*", "--format", "json")
    assert json.loads(by_name.stdout)["tickets"] == []
    piped = run_cli("--config", str(fleet), "tickets")
    key = listed[0]["key"]
    assert key in piped.stdout and "┃ Key" in piped.stdout  # laid out for its content, not 80
