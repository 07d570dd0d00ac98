"""`[[exceptions]]` as an operator writes them: reported, not ticketed; ended; naming nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.tlsservers import TLSServer
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

WILDCARD_ID = hashlib.sha256(b"*.example.com\nexample.com").hexdigest()[:16]


def configure(workdir: Path, server: TLSServer, exceptions: str) -> Path:
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["127.0.0.6"]\n\n'
        for host in ("app.example.com", "api.example.com")
    )
    (workdir / "ticketbridge.toml").write_text(
        f'[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        f'{endpoints}[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n\n'
        f'[audit]\nlog_path = "audit.jsonl"\n\n{exceptions}',
        encoding="utf-8",
    )
    return workdir


@pytest.fixture
def workdir(tmp_path: Path, pki: dict[str, Issued]) -> Path:
    write_pem(tmp_path / "root.pem", pki["root"])
    return tmp_path


def exception(until: str, names: str = '["*.example.com", "example.com"]') -> str:
    return (
        f'[[exceptions]]\nnames = {names}\nreason = "decommissioned, CHG-4411"\n'
        f'approved_by = "ciso@example.com"\nuntil = {until}\n\n'
    )


def cli(workdir: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("--config", str(workdir / "ticketbridge.toml"), *args)
    return result.returncode, result.stdout, result.stderr


def test_within_its_window_a_certificate_is_reported_not_ticketed(
    workdir: Path, server: TLSServer
) -> None:
    until = (NOW + timedelta(days=10)).date().isoformat()
    configure(workdir, server, exception(until) + exception(until, '["typo.example.com"]'))
    code, out, err = cli(workdir, "plan", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["writes"] == 0
    active, unmatched = plan["exceptions"]
    assert active["standing"] == "active" and active["certificates"] == [WILDCARD_ID]
    assert unmatched["standing"] == "unmatched" and "typo.example.com" in unmatched["note"]

    code, out, err = cli(workdir, "plan")
    assert code == 0, err
    assert "Exceptions" in out and "unmatched" in out and "active" in out

    code, out, err = cli(workdir, "reconcile")
    assert code == 0, err
    assert LocalTicketStore(workdir / "tickets.db").all_tickets() == []
    lines = (workdir / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line)["data"] for line in lines if '"event":"exception"' in line]
    assert [r["standing"] for r in records] == ["active", "unmatched"]
    assert records[0]["certificates"][0]["id"] == WILDCARD_ID
    assert records[0]["approved_by"] == "ciso@example.com" and records[0]["until"] == until

    # An exception never hides a certificate from scan.
    code, out, err = cli(workdir, "scan", "--format", "json")
    assert code == 0, err
    assert WILDCARD_ID in [c["id"] for c in json.loads(out)["certificates"]]


def test_after_until_the_certificate_is_ticketed_and_the_plan_says_why(
    workdir: Path, server: TLSServer
) -> None:
    until = (NOW - timedelta(days=2)).date().isoformat()
    configure(workdir, server, exception(until))
    code, out, err = cli(workdir, "reconcile", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    create = next(a for a in document["actions"] if a["kind"] == "create")
    assert f"ended {until}" in create["reason"]
    (ticket,) = LocalTicketStore(workdir / "tickets.db").all_tickets()
    assert f"tb-{WILDCARD_ID}" in ticket.labels


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ('[[exceptions]]\nreason = "r"\napproved_by = "a"\nuntil = 2026-12-31\n', "exceptions[0]"),
        (
            '[[exceptions]]\nnames = ["a.example.com"]\nid = "0123456789abcdef"\nreason = "r"\n'
            'approved_by = "a"\nuntil = 2026-12-31\n',
            "exceptions[0]",
        ),
        (
            '[[exceptions]]\nnames = ["a.example.com"]\napproved_by = "a"\nuntil = 2026-12-31\n',
            "exceptions[0].reason",
        ),
        (
            '[[exceptions]]\nnames = ["a.example.com"]\nreason = "r"\napproved_by = "a"\n'
            'until = "next year"\n',
            "exceptions[0].until",
        ),
    ],
)
def test_a_bad_exception_is_one_line_naming_file_and_key(
    workdir: Path, server: TLSServer, entry: str, key: str
) -> None:
    configure(workdir, server, entry)
    code, _, err = cli(workdir, "plan")
    assert code == 2
    line = err.strip()
    assert "\n" not in line and "ticketbridge.toml" in line and f"{key}:" in line
