"""A stray expired certificate and an expired cross-sign, end to end: `scan`, `plan`,
`reconcile`, `plan` again, against real TLS servers, the local store and a webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli
from support.rawhttp import Chunk, RawHttpServer, Script, response
from support.servedpki import Scenario, scenarios
from support.tlsservers import Served, TLSServer
from ticketbridge.core.x509facts import fingerprint_sha256, tracked_id
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

STRAY = "stray.example.com"  # an unrelated expired CA served beside a good chain
CROSS = "cross.example.com"  # an expired cross-sign, the validated path 60 days from expiry
NEAR = "near.example.com"  # an expired cross-sign, the validated path 2 days from expiry
ADDRESS = "127.0.0.11"


@pytest.fixture(scope="module")
def shapes() -> dict[str, Scenario]:
    return {
        STRAY: scenarios(NOW, STRAY)["stray-expired"],
        CROSS: scenarios(NOW, CROSS)["cross-sign"],
        NEAR: scenarios(NOW, NEAR, leaf_days=2)["cross-sign"],
    }


@pytest.fixture(scope="module")
def server(shapes: dict[str, Scenario]) -> Iterator[TLSServer]:
    by_name = {host: Served(shape.served) for host, shape in shapes.items()}
    with TLSServer(Served(shapes[STRAY].served), by_name, address=ADDRESS) as running:
        yield running


@pytest.fixture
def hook() -> Iterator[RawHttpServer]:
    with RawHttpServer([Script([Chunk(response(202, "Accepted"))])]) as receiver:
        yield receiver


@pytest.fixture
def workdir(
    tmp_path: Path, server: TLSServer, hook: RawHttpServer, shapes: dict[str, Scenario]
) -> Path:
    anchors = b"".join(anchor.pem for shape in shapes.values() for anchor in shape.anchors)
    (tmp_path / "anchors.pem").write_bytes(anchors)
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["{ADDRESS}"]\n\n'
        for host in shapes
    )
    (tmp_path / "ticketbridge.toml").write_text(
        '[discovery]\nca_bundle = "anchors.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n\n'
        f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n\n'
        f'[[alerts.webhook]]\nurl = "{hook.url}"\n\n{endpoints}',
        encoding="utf-8",
    )
    return tmp_path


def cli(workdir: Path, *args: str) -> tuple[int, Any, str]:
    result = run_cli("--config", str(workdir / "ticketbridge.toml"), *args)
    try:
        return result.returncode, json.loads(result.stdout), result.stderr
    except json.JSONDecodeError:
        return result.returncode, result.stdout, result.stderr


def cert_id(host: str) -> str:
    return tracked_id([host])


def iso(shape: Scenario, which: str) -> str:
    moment: datetime = getattr(shape, which)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_scan_reports_the_stray_and_the_expiries(
    workdir: Path, shapes: dict[str, Scenario]
) -> None:
    code, scan, err = cli(workdir, "scan", "--format", "json")

    assert code == 0, err
    certificates = {c["id"]: c for c in scan["certificates"]}
    stray_cert = certificates[cert_id(STRAY)]
    assert stray_cert["effective_not_after"] == iso(shapes[STRAY], "effective")
    (stray,) = shapes[STRAY].strays
    assert [s["fingerprint_sha256"] for s in stray_cert["strays"]] == [
        fingerprint_sha256(stray.der)
    ]
    cross = certificates[cert_id(CROSS)]
    assert cross["effective_not_after"] == iso(shapes[CROSS], "effective")
    assert cross["validated_path_not_after"] == iso(shapes[CROSS], "validated")
    observation = next(o for o in scan["observations"] if o["endpoint"]["host"] == STRAY)
    assert observation["verification"]["trusted"] is True
    assert [s["subject"] for s in observation["strays"]] == ["CN=Unrelated Expired CA"]

    code, table, err = cli(workdir, "scan")
    assert code == 0, err
    # Folded to the terminal's width: look for words that fit a narrow column.
    assert "stray:" in table and "Unrelat" in table, table
    assert "includes" in table and "USERTru" in table, table


def test_plan_reconcile_plan(
    workdir: Path, shapes: dict[str, Scenario], hook: RawHttpServer
) -> None:
    code, plan, err = cli(workdir, "plan", "--format", "json", "--detailed-exitcode")

    assert code == 3, err
    by_cert: dict[str, list[dict[str, Any]]] = {}
    for action in plan["actions"]:
        by_cert.setdefault(action["certificate"]["id"], []).append(action)
    assert cert_id(STRAY) not in by_cert  # the stray opens no ticket and pages nobody
    advice = (
        f"the served chain still includes CN=USERTrust Test Root (expired "
        f"{iso(shapes[CROSS], 'effective')}), which older clients may use: remove it from the "
        "chain or renew it"
    )
    cross_kinds = [a["kind"] for a in by_cert[cert_id(CROSS)]]
    assert "create" in cross_kinds and "page" not in cross_kinds
    create = next(a for a in by_cert[cert_id(CROSS)] if a["kind"] == "create")
    assert create["reason"].endswith(advice)
    near_kinds = [a["kind"] for a in by_cert[cert_id(NEAR)]]
    assert "create" in near_kinds and "page" in near_kinds

    code, _, err = cli(workdir, "reconcile", "--format", "json")

    assert code == 0, err
    tickets = LocalTicketStore(workdir / "tickets.db").all_tickets()
    assert sorted(t.marker_ids[0] for t in tickets) == sorted([cert_id(CROSS), cert_id(NEAR)])
    assert hook.posts == 1
    body = json.loads(hook.served[0].requests[0].partition(b"\r\n\r\n")[2])
    assert body["dedup_key"] == cert_id(NEAR)
    assert body["summary"].startswith(f"{NEAR} expires {iso(shapes[NEAR], 'validated')}")

    code, again, err = cli(workdir, "plan", "--format", "json", "--detailed-exitcode")
    assert code == 0, (err, again)

    # The audit trail keeps the evidence that the stray was seen, and why it moved no date.
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    observed = next(r for r in records if r["event"] == "observed")
    stray_cert = next(c for c in observed["data"]["certificates"] if c["id"] == cert_id(STRAY))
    assert [s["subject"] for s in stray_cert["strays"]] == ["CN=Unrelated Expired CA"]
