"""A fact the planner cannot place (a notAfter at the edge of the calendar) is one finding for
that certificate; every other certificate is still reconciled."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.certs import der_with_validity, make_leaf, write_pem
from support.cli import run_cli
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

# RFC 5280 section 4.1.2.5: "the notAfter date of 99991231235959Z" for a certificate with no
# well-defined expiration date; one hour after it (Europe/Berlin, UTC+1) is year 10000.
NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _openssl_enddate(path: Path) -> str:
    """OpenSSL's own reading of the notAfter we wrote: the oracle that the fixture is real."""
    done = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-enddate"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    certs = tmp_path / "certs"
    certs.mkdir()
    write_pem(
        certs / "forever.pem",
        make_leaf(names=("forever.example.com",), not_before=NOW, not_after=NO_EXPIRY),
    )
    ancient = make_leaf(names=("ancient.example.com",), key_slot="ancient")
    write_pem(
        certs / "ancient.pem",
        der_with_validity(ancient.certificate, ancient.key, "00010101000000Z", "00010101120000Z"),
    )
    write_pem(
        certs / "soon.pem",
        make_leaf(
            names=("soon.example.com",),
            not_before=NOW - timedelta(days=80),
            not_after=NOW + timedelta(days=5),
        ),
    )
    (tmp_path / "ticketbridge.toml").write_text(
        '[[files]]\npath = "certs/*.pem"\n\n'
        '[policy]\ntimezone = "Europe/Berlin"\n\n'
        '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n',
        encoding="utf-8",
    )
    return tmp_path


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_fixture_holds_the_dates_openssl_reads(workdir: Path) -> None:
    assert _openssl_enddate(workdir / "certs/forever.pem") == "notAfter=Dec 31 23:59:59 9999 GMT"
    assert _openssl_enddate(workdir / "certs/ancient.pem") == "notAfter=Jan  1 12:00:00 1 GMT"


def test_plan_reports_the_unplaceable_and_plans_the_rest(workdir: Path) -> None:
    result = run_cli("--config", str(workdir / "ticketbridge.toml"), "plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    findings = {
        action["certificate"]["names"][0]: action["reason"]
        for action in plan["actions"]
        if action["kind"] == "unplaceable"
    }
    assert set(findings) == {"forever.example.com", "ancient.example.com"}
    assert "9999-12-31T23:59:59Z" in findings["forever.example.com"]
    assert "Europe/Berlin" in findings["forever.example.com"]
    created = [a["certificate"]["names"] for a in plan["actions"] if a["kind"] == "create"]
    assert created == [["soon.example.com"]]


def test_reconcile_creates_the_other_tickets_and_converges(workdir: Path) -> None:
    config = str(workdir / "ticketbridge.toml")
    first = run_cli("--config", config, "reconcile", "--format", "json")
    assert first.returncode == 0, first.stderr
    tickets = LocalTicketStore(workdir / "tickets.db").open_tickets()
    assert [ticket.summary for ticket in tickets] == ["Renew TLS certificate soon.example.com"]
    again = run_cli("--config", config, "plan", "--format", "json", "--detailed-exitcode")
    # Findings are reported every run, but they are not changes: a second run writes nothing.
    assert again.returncode == 0, again.stdout
