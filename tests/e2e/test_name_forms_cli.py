"""One certificate name in two spellings (`Mixed.Test`, `mixed.test.`) is one tracked
certificate with one id and one ticket (RFC 4343 case, RFC 1034 section 3.1 absolute names)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from support.certs import make_leaf, write_pem
from support.cli import run_cli
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW


def test_case_and_trailing_dot_make_one_certificate_and_one_ticket(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    for slot, names in (("upper", ("Mixed.Test",)), ("dotted", ("mixed.test.",))):
        leaf = make_leaf(
            names=names,
            not_before=NOW - timedelta(days=80),
            not_after=NOW + timedelta(days=5),
            key_slot=f"name-forms-{slot}",
        )
        write_pem(tmp_path / "certs" / f"{slot}.pem", leaf)
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        '[[files]]\npath = "certs/*.pem"\n\n[tickets]\nlocal_path = "tickets.db"\n',
        encoding="utf-8",
    )

    scanned = run_cli("--config", str(config), "scan", "--format", "json")
    assert scanned.returncode == 0, scanned.stderr
    certificates = json.loads(scanned.stdout)["certificates"]
    # SPEC: the id is the first 16 hex digits of the SHA-256 of the canonical name set.
    expected_id = hashlib.sha256(b"mixed.test").hexdigest()[:16]
    assert [(c["id"], c["names"]) for c in certificates] == [(expected_id, ["mixed.test"])]
    assert len(certificates[0]["fingerprints"]) == 2

    reconciled = run_cli("--config", str(config), "reconcile")
    assert reconciled.returncode == 0, reconciled.stderr
    tickets = LocalTicketStore(tmp_path / "tickets.db").open_tickets()
    assert [t.marker_ids for t in tickets] == [(expected_id,)]
