"""`plan`, `reconcile`, `plan` again, as a scheduled job runs them: exit codes and final tickets."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.tlsservers import TLSServer
from ticketbridge.app.runlock import RunLock
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

WILDCARD_ID = hashlib.sha256(b"*.example.com\nexample.com").hexdigest()[:16]


@pytest.fixture
def workdir(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    """A config probing app, api and www on the incident server, with a fresh local store."""
    write_pem(tmp_path / "root.pem", pki["root"])
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["127.0.0.6"]\n\n'
        for host in ("app.example.com", "api.example.com", "www.example.com")
    )
    (tmp_path / "ticketbridge.toml").write_text(
        f'[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        f"{endpoints}"
        '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n',
        encoding="utf-8",
    )
    return tmp_path


def store(workdir: Path) -> LocalTicketStore:
    return LocalTicketStore(workdir / "tickets.db")


def hand_file_the_incident_ticket(workdir: Path, pki: dict[str, Issued]) -> str:
    """The incident: a renewal ticket for the wildcard carrying www's due date."""
    www_due = (pki["www"].certificate.not_valid_after_utc - timedelta(days=21)).date()
    ticket = store(workdir).add_manual_ticket(
        "Renew *.example.com", www_due, created=NOW - timedelta(days=40)
    )
    return ticket.key


def cli(workdir: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("--config", str(workdir / "ticketbridge.toml"), *args)
    return result.returncode, result.stdout, result.stderr


def test_plan_reconcile_plan_corrects_the_incident_ticket(
    workdir: Path, pki: dict[str, Issued]
) -> None:
    key = hand_file_the_incident_ticket(workdir, pki)
    wildcard_expiry = pki["wildcard"].certificate.not_valid_after_utc
    required_due = (wildcard_expiry - timedelta(days=21)).date().isoformat()

    code, out, err = cli(workdir, "plan", "--format", "json", "--detailed-exitcode")
    assert code == 3, err
    plan = json.loads(out)
    updates = [a for a in plan["actions"] if a["kind"] == "update"]
    assert [a["ticket"] for a in updates] == [key]
    assert updates[0]["fields"]["duedate"]["to"] == required_due
    assert updates[0]["certificate"]["id"] == WILDCARD_ID
    assert "www.example.com" in updates[0]["reason"]
    assert plan["summary"]["create"] == 0
    # plan wrote nothing
    assert store(workdir).get(key).labels == ()

    code, out, err = cli(workdir, "reconcile", "--format", "json")
    assert code == 0, err
    applied = json.loads(out)
    assert applied["actions"] and all(
        a["applied"] for a in applied["actions"] if a["kind"] != "unobserved"
    )

    ticket = store(workdir).get(key)
    assert ticket.due_date is not None and ticket.due_date.isoformat() == required_due
    assert f"tb-{WILDCARD_ID}" in ticket.labels and "ticketbridge" in ticket.labels
    assert ticket.priority == "Highest"  # 5 days left: inside the escalation window
    assert len(store(workdir).all_tickets()) == 1  # adopted, never duplicated
    (comment,) = store(workdir).comments(key)
    wildcard_fingerprint = hashlib.sha256(pki["wildcard"].der).hexdigest()
    assert WILDCARD_ID in comment.body
    assert wildcard_fingerprint in comment.body
    assert wildcard_expiry.strftime("%Y-%m-%dT%H:%M:%SZ") in comment.body
    assert "app.example.com:" in comment.body and "@127.0.0.6" in comment.body
    assert required_due in comment.body

    code, out, err = cli(workdir, "plan", "--detailed-exitcode")
    assert code == 0, err
    assert "Nothing to do" in out
    code, _, err = cli(workdir, "reconcile")
    assert code == 0, err
    assert len(store(workdir).comments(key)) == 1  # the converged run wrote nothing


def test_a_missing_ticket_is_created_with_its_marker(workdir: Path) -> None:
    code, out, err = cli(workdir, "reconcile", "--format", "json")
    assert code == 0, err
    tickets = store(workdir).all_tickets()
    assert len(tickets) == 1
    assert f"tb-{WILDCARD_ID}" in tickets[0].labels
    assert "*.example.com" in tickets[0].summary
    code, out, _ = cli(workdir, "tickets", "--format", "json")
    assert code == 0
    listed = json.loads(out)["tickets"]
    assert [t["key"] for t in listed] == [tickets[0].key]
    assert listed[0]["certificate_ids"] == [WILDCARD_ID]
    assert listed[0]["tracked_endpoints"]


def test_dry_run_writes_nothing_and_reports_pending_changes(workdir: Path) -> None:
    code, out, err = cli(
        workdir, "reconcile", "--dry-run", "--format", "json", "--detailed-exitcode"
    )
    assert code == 3, err
    document = json.loads(out)
    assert document["summary"]["create"] == 1
    assert all(action["applied"] is False for action in document["actions"])
    assert store(workdir).all_tickets() == []


def test_an_unsafe_plan_is_refused_unless_forced(workdir: Path) -> None:
    code, _, err = cli(workdir, "reconcile", "--max-changes", "0")
    assert code == 4
    assert "max_changes = 0" in err and "--force" in err
    assert store(workdir).all_tickets() == []
    code, _, err = cli(workdir, "reconcile", "--max-changes", "0", "--force")
    assert code == 0, err
    assert len(store(workdir).all_tickets()) == 1


def test_a_second_run_waits_for_nobody_it_exits_5(workdir: Path) -> None:
    with RunLock(workdir / "ticketbridge.lock"):
        code, _, err = cli(workdir, "reconcile")
    assert code == 5
    assert "another ticketbridge run holds the lock" in err
    assert store(workdir).all_tickets() == []


def test_observations_made_elsewhere_drive_the_same_plan(workdir: Path) -> None:
    observations = workdir / "zone-a.jsonl"
    code, _, err = cli(workdir, "scan", "--format", "jsonl", "--output", str(observations))
    assert code == 0, err
    # An unreachable config would fail a local scan: --observations must not scan.
    (workdir / "offline.toml").write_text(
        '[[endpoints]]\nhost = "never.example.com"\naddresses = ["127.0.0.9"]\nport = 1\n'
        '[tickets]\nlocal_path = "tickets.db"\n',
        encoding="utf-8",
    )
    from_file = run_cli(
        "--config",
        str(workdir / "offline.toml"),
        "plan",
        "--format",
        "json",
        "--observations",
        str(observations),
    )
    local = run_cli("--config", str(workdir / "ticketbridge.toml"), "plan", "--format", "json")
    assert from_file.returncode == 0, from_file.stderr

    def strip(document: Any) -> list[tuple[Any, ...]]:
        return [(a["kind"], a["certificate"]["id"], a["fields"]) for a in document["actions"]]

    assert strip(json.loads(from_file.stdout)) == strip(json.loads(local.stdout))
    assert json.loads(from_file.stdout)["summary"]["create"] == 1


def test_a_bad_observations_file_is_a_usage_error(workdir: Path) -> None:
    bad = workdir / "bad.jsonl"
    bad.write_text('{"endpoint": 1}\n', encoding="utf-8")
    code, _, err = cli(workdir, "plan", "--observations", str(bad))
    assert code == 2
    assert "bad.jsonl: line 1" in err


def test_metrics_file_for_the_textfile_collector(workdir: Path) -> None:
    metrics = workdir / "metrics" / "ticketbridge.prom"
    code, _, err = cli(workdir, "reconcile", "--metrics-file", str(metrics))
    assert code == 0, err
    text = metrics.read_text(encoding="utf-8")
    assert f'ticketbridge_certificate_expiry_timestamp_seconds{{id="{WILDCARD_ID}"' in text
    assert 'ticketbridge_plan_actions{kind="create"} 1.0' in text
    assert "ticketbridge_last_run_success 1.0" in text


def test_metrics_name_the_pinned_certificate_id_like_the_plan_and_the_ticket(workdir: Path) -> None:
    """A `[[certificates]]` pin's id is the id everywhere: plan, ticket marker and metrics."""
    pinned = "0123456789abcdef"
    config = workdir / "ticketbridge.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[[certificates]]\nnames = ["*.example.com", "example.com"]\nid = "{pinned}"\n',
        encoding="utf-8",
    )
    metrics = workdir / "ticketbridge.prom"

    code, out, err = cli(workdir, "reconcile", "--format", "json", "--metrics-file", str(metrics))

    assert code == 0, err
    created = [a for a in json.loads(out)["actions"] if a["kind"] == "create"]
    assert [a["certificate"]["id"] for a in created] == [pinned]
    assert {ticket.marker_ids for ticket in store(workdir).all_tickets()} == {(pinned,)}
    text = metrics.read_text(encoding="utf-8")
    assert f'ticketbridge_certificate_expiry_timestamp_seconds{{id="{pinned}"' in text
    assert f'id="{WILDCARD_ID}"' not in text


def test_the_demo_replays_the_incident_offline_in_seconds(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli("demo", "--workdir", str(tmp_path / "demo"), env={"COLUMNS": "200"})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 10
    assert "Nothing to do" in result.stdout
    demo_store = LocalTicketStore(tmp_path / "demo" / "ticketbridge.db")
    (ticket,) = demo_store.all_tickets()
    assert ticket.summary == "Renew *.example.com wildcard certificate"
    assert ticket.marker_ids and ticket.due_date is not None
    assert ticket.due_date < (NOW + timedelta(days=3)).date()  # no longer www's date, months away
    assert "On-call was paged" in result.stdout


def test_tickets_lists_tracked_ones_and_with_all_everything_the_store_holds(workdir: Path) -> None:
    store(workdir).add_manual_ticket("Upgrade the kernel on db-1", None)
    done = store(workdir).add_manual_ticket("Rotate the backup keys", None, status="Done")
    code, _, err = cli(workdir, "reconcile")
    assert code == 0, err
    code, out, _ = cli(workdir, "tickets", "--format", "json")
    tracked = json.loads(out)["tickets"]
    assert [t["certificate_ids"] for t in tracked] == [[WILDCARD_ID]]
    code, out, _ = cli(workdir, "tickets", "--all", "--format", "json")
    everything = {t["key"] for t in json.loads(out)["tickets"]}
    assert everything == {t.key for t in store(workdir).all_tickets()}
    assert done.key in everything and len(everything) == 3
