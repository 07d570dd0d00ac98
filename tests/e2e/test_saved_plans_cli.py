"""Approved plans as a change manager runs them: plan --out, review, reconcile --plan, or exit 6."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support.certs import Issued, make_leaf, write_pem
from support.cli import run_cli
from support.tlsservers import Served, TLSServer, chain_pem
from ticketbridge.audit import verify_log
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

ADDRESS = "127.0.0.16"


@pytest.fixture
def server(pki: dict[str, Issued]) -> Iterator[TLSServer]:
    """A server of its own: these tests change what it serves."""
    with TLSServer(Served([pki["wildcard"], pki["intermediate"]]), address=ADDRESS) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    write_pem(tmp_path / "root.pem", pki["root"])
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["{ADDRESS}"]\n\n'
        for host in ("app.example.com", "api.example.com")
    )
    (tmp_path / "ticketbridge.toml").write_text(
        f'[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        f'{endpoints}[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n\n'
        '[audit]\nlog_path = "audit.jsonl"\n',
        encoding="utf-8",
    )
    return tmp_path


def cli(workdir: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("--config", str(workdir / "ticketbridge.toml"), *args)
    return result.returncode, result.stdout, result.stderr


def audit_records(workdir: Path) -> list[dict[str, Any]]:
    lines = (workdir / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def last_run(workdir: Path) -> list[dict[str, Any]]:
    records = audit_records(workdir)
    return [r for r in records if r["run"] == records[-1]["run"]]


def assert_last_run_approved(workdir: Path, plan_id: str, approver: str) -> None:
    """The trail names the approver and the plan at the run's start, on every change, at the end."""
    run = last_run(workdir)
    assert run[0]["data"]["approval"] == "approved"
    assert run[0]["data"]["approved_by"] == approver
    assert run[0]["data"]["plan_id"] == plan_id
    actions = [r["data"] for r in run if r["event"] == "action"]
    assert actions and all(
        a["plan_id"] == plan_id and a["approved_by"] == approver and a["approval"] == "approved"
        for a in actions
    )
    assert run[-1]["data"]["plan_id"] == plan_id and run[-1]["data"]["exit_code"] == 0


def assert_last_run_refused(workdir: Path, plan_id: str, endpoint: str) -> None:
    run = last_run(workdir)
    (stale,) = [r["data"] for r in run if r["event"] == "plan_stale"]
    assert stale["plan_id"] == plan_id and stale["approved_by"] == "alice@example.com"
    assert any(endpoint in reason for reason in stale["reasons"])
    assert not [r for r in run if r["event"] in {"action", "intent"}]
    assert run[-1]["event"] == "run_finished" and run[-1]["data"]["exit_code"] == 6


def serve_instead(server: TLSServer, chain: list[Issued], directory: Path) -> None:
    """From the next handshake on, the server presents `chain` (a renewal went live)."""
    cert, key = directory / "renewed.pem", directory / "renewed.key"
    cert.write_bytes(chain_pem(chain))
    key.write_bytes(Served(chain).key)
    server.default_context.load_cert_chain(cert, key)


def test_a_plan_approved_before_the_served_certificate_changed_is_refused_then_reapproved(
    workdir: Path, server: TLSServer, pki: dict[str, Issued]
) -> None:
    tickets = LocalTicketStore(workdir / "tickets.db")
    first = workdir / "plan-1.json"
    code, _, err = cli(workdir, "plan", "--out", str(first))
    assert code == 0, err
    saved = json.loads(first.read_text(encoding="utf-8"))
    assert len(saved["plan_id"]) == 64 and saved["plan_id"] in err
    assert saved["inputs"]["observations"]["count"] == 2
    assert [a["kind"] for a in saved["actions"]] == ["create", "escalate"]

    # The reviewer reads it as a table.
    code, out, err = cli(workdir, "plan", "--from", str(first))
    assert code == 0, err
    assert saved["plan_id"] in out and "*.example.com" in out and "create" in out

    renewed = make_leaf(
        pki["intermediate"],
        names=("*.example.com", "example.com"),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        key_slot="cli-wild-renewed",
    )
    serve_instead(server, [renewed, pki["intermediate"]], workdir)

    code, out, err = cli(
        workdir, "reconcile", "--plan", str(first), "--approved-by", "alice@example.com"
    )
    assert code == 6, err
    assert tickets.all_tickets() == []  # nothing written
    old_expiry = pki["wildcard"].certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    new_expiry = renewed.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    endpoint = f"app.example.com:{server.port}@{ADDRESS}"
    assert "stale" in err and endpoint in err
    moved = next(line for line in out.splitlines() if endpoint in line)
    assert old_expiry in moved and new_expiry in moved
    assert_last_run_refused(workdir, saved["plan_id"], endpoint)

    second = workdir / "plan-2.json"
    code, _, err = cli(workdir, "plan", "--out", str(second))
    assert code == 0, err
    approved_id = json.loads(second.read_text(encoding="utf-8"))["plan_id"]
    assert approved_id != saved["plan_id"]
    code, _, err = cli(
        workdir, "reconcile", "--plan", str(second), "--approved-by", "alice@example.com"
    )
    assert code == 0, err
    (ticket,) = tickets.all_tickets()
    due = (renewed.certificate.not_valid_after_utc - timedelta(days=21)).date()
    assert ticket.due_date == due

    assert_last_run_approved(workdir, approved_id, "alice@example.com")
    assert verify_log(workdir / "audit.jsonl").ok

    # The scheduled job keeps running unattended, and the trail tells it apart.
    code, _, err = cli(workdir, "reconcile")
    assert code == 0, err
    last = last_run(workdir)
    assert last[0]["data"]["approval"] == "automatic" and last[0]["data"]["approved_by"] is None
    planned = next(r["data"] for r in last if r["event"] == "planned")
    assert planned["writes"] == 0 and len(planned["plan_id"]) == 64


def test_a_saved_plan_whose_actions_were_edited_is_not_approvable(workdir: Path) -> None:
    path = workdir / "plan.json"
    code, _, err = cli(workdir, "plan", "--out", str(path))
    assert code == 0, err
    document = json.loads(path.read_text(encoding="utf-8"))
    document["actions"][0]["fields"]["duedate"]["to"] = "2099-01-01"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli(workdir, "reconcile", "--plan", str(path), "--approved-by", "mallory")
    assert code == 2
    assert str(path) in err and "plan_id does not match" in err
    assert LocalTicketStore(workdir / "tickets.db").all_tickets() == []


def test_an_approval_names_its_approver_and_its_plan(workdir: Path) -> None:
    path = workdir / "plan.json"
    code, _, err = cli(workdir, "plan", "--out", str(path))
    assert code == 0, err
    code, _, err = cli(workdir, "reconcile", "--plan", str(path))
    assert code == 2 and "--approved-by" in err
    code, _, err = cli(workdir, "reconcile", "--approved-by", "alice")
    assert code == 2 and "--plan" in err
    code, _, err = cli(
        workdir, "reconcile", "--plan", str(workdir / "missing.json"), "--approved-by", "a"
    )
    assert code == 2 and "missing.json" in err
    assert LocalTicketStore(workdir / "tickets.db").all_tickets() == []


def test_a_dry_run_checks_an_approved_plan_without_writing(workdir: Path) -> None:
    path = workdir / "plan.json"
    code, _, err = cli(workdir, "plan", "--out", str(path), "--format", "json")
    assert code == 0, err
    code, out, err = cli(
        workdir, "reconcile", "--dry-run", "--plan", str(path), "--approved-by", "alice",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert all(action["applied"] is False for action in json.loads(out)["actions"])
    assert LocalTicketStore(workdir / "tickets.db").all_tickets() == []
    assert not (workdir / "audit.jsonl").exists()
