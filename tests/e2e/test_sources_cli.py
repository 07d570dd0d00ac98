"""`ticketbridge scan` with no `[[endpoints]]`: names from a BIND zone served on loopback, and a CT
export with a renewal nobody deployed."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from support.certs import Issued, make_leaf, write_pem
from support.cli import run_cli
from support.ctlog import crtsh_row, make_precertificate, precert_entry, write_json
from support.tlsservers import Served, TLSServer
from ticketbridge.core.x509facts import tracked_id
from ticketbridge.tickets.local import LocalTicketStore

NOW = datetime.now(UTC).replace(microsecond=0)
ADDRESS = "127.0.0.31"
ZONE = """; the fleet, as BIND keeps it
$TTL 3600
$ORIGIN example.com.
@        IN SOA ns1 hostmaster 2026120401 7200 3600 1209600 300
         IN NS  ns1
ns1      IN A   127.0.0.32
app      IN A   {address}
api      IN CNAME app
www      IN A   {address}
*.preview IN A  {address}
$INCLUDE db.example.com.status
"""
STATUS = """; included: relative names stay under example.com.
status   IN A   {address}
"""


@pytest.fixture(scope="module")
def fleet(pki: dict[str, Issued]) -> Iterator[tuple[TLSServer, dict[str, Issued]]]:
    """app, api and status serve the wildcard; www its own; ns1 (no server) is unreachable."""
    status = make_leaf(
        pki["intermediate"],
        names=("status.example.com",),
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=60),
        key_slot="cli-status",
    )
    with TLSServer(
        Served([pki["wildcard"], pki["intermediate"]]),
        {
            "www.example.com": Served([pki["www"], pki["intermediate"]]),
            "status.example.com": Served([status, pki["intermediate"]]),
        },
        address=ADDRESS,
    ) as server:
        yield server, {**pki, "status": status}


def _config(tmp_path: Path, server: TLSServer, pki: dict[str, Issued], extra: str = "") -> Path:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "db.example.com").write_text(ZONE.format(address=ADDRESS), encoding="utf-8")
    (zones / "db.example.com.status").write_text(STATUS.format(address=ADDRESS), encoding="utf-8")
    bundle = write_pem(tmp_path / "root.pem", pki["root"])
    path = tmp_path / "ticketbridge.toml"
    path.write_text(
        f"""
[discovery]
concurrency = 4
connect_timeout = 1.0
handshake_timeout = 2.0
ca_bundle = "{bundle}"

[[sources.zone]]
file = "zones/db.example.com"
ports = [{server.port}]
{extra}
""",
        encoding="utf-8",
    )
    return path


def _scan(config: Path) -> dict[str, Any]:
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="needs bind9-utils")
def test_the_sample_zone_is_one_bind_itself_loads(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    config = _config(tmp_path, server, pki)
    checked = subprocess.run(
        ["named-checkzone", "-w", str(config.parent / "zones"), "example.com", "db.example.com"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_scan_from_the_zone_alone_finds_every_served_certificate(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    document = _scan(_config(tmp_path, server, pki))

    observations = document["observations"]
    assert isinstance(observations, list)
    by_host = {o["endpoint"]["host"]: o for o in observations}
    assert set(by_host) == {
        "app.example.com",
        "api.example.com",
        "www.example.com",
        "status.example.com",
        "ns1.example.com",
    }
    assert all(o["endpoint"]["source"] == "zone:zones/db.example.com" for o in observations)
    # Probed at the zone's own address, the owner name as SNI; the CNAME followed in the zone.
    assert by_host["api.example.com"]["endpoint"]["address"] == ADDRESS
    assert by_host["api.example.com"]["endpoint"]["sni"] == "api.example.com"
    assert by_host["ns1.example.com"]["status"] == "error"
    served = {o["certificate"]["fingerprint_sha256"] for o in observations if o["status"] == "ok"}
    assert served == {
        hashlib.sha256(pki[name].der).hexdigest() for name in ("wildcard", "www", "status")
    }
    assert {"api.example.com", "www.example.com", "status.example.com"} <= set(
        server.server_names_seen
    )
    (count,) = document["sources"]
    assert count["source"] == "zone:zones/db.example.com"
    assert count["endpoints"] == 5
    assert count["skipped"][0]["name"] == "*.preview.example.com"


def test_an_endpoint_listed_twice_is_probed_once_and_keeps_the_hand_listed_entry(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    extra = f"""
[[endpoints]]
host = "www.example.com"
port = {server.port}
addresses = ["{ADDRESS}"]
"""
    document = _scan(_config(tmp_path, server, pki, extra))
    observations = document["observations"]
    assert isinstance(observations, list)
    www = [o for o in observations if o["endpoint"]["host"] == "www.example.com"]
    assert len(www) == 1
    assert "source" not in www[0]["endpoint"]  # [[endpoints]] comes first: hand-listed


def _ct_files(tmp_path: Path, pki: dict[str, Issued]) -> tuple[Issued, x509.Certificate]:
    """crt.sh's export for example.com (the served wildcard, its renewal, status's) and a log's
    get-entries with a precertificate for a name no source lists."""
    renewal = make_leaf(
        pki["intermediate"],
        names=("*.example.com", "example.com"),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=90),
        key_slot="cli-renewal",
    )
    precert = make_precertificate(
        pki["intermediate"],
        names=("legacy.example.com",),
        not_before=NOW - timedelta(days=2),
        not_after=NOW + timedelta(days=80),
    )
    logged = NOW - timedelta(hours=20)
    write_json(
        tmp_path / "ct" / "example.com.json",
        [
            crtsh_row(pki["wildcard"].certificate, logged, 1),
            crtsh_row(renewal.certificate, logged, 2),
            crtsh_row(pki["status"].certificate, logged, 3),
        ],
    )
    write_json(
        tmp_path / "ct" / "log.json",
        {"entries": [precert_entry(precert, pki["intermediate"], logged)]},
    )
    return renewal, precert


def test_a_renewal_in_ct_that_no_endpoint_serves_is_issued_but_not_deployed(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    renewal, precert = _ct_files(tmp_path, pki)
    extra = '[[sources.ct]]\nfile = "ct/*.json"\n'
    document = _scan(_config(tmp_path, server, pki, extra))

    ct = document["ct"]
    assert isinstance(ct, dict)
    wildcard_id = tracked_id(["*.example.com", "example.com"])
    (issued,) = ct["issued_not_deployed"]
    assert issued["certificate_id"] == wildcard_id
    assert issued["serial"] == format(renewal.certificate.serial_number, "x")
    assert issued["not_after"] == renewal.certificate.not_valid_after_utc.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    # www is served from a certificate CT has never seen, for names CT knows nothing of either:
    # no judgement; status's is logged. The apex (the zone gives it no address) and legacy
    # have certificates, but no source lists them.
    assert ct["served_not_logged"] == []
    unlisted = {item["name"]: item for item in ct["unlisted_names"]}
    assert set(unlisted) == {"example.com", "legacy.example.com"}
    assert unlisted["example.com"]["certificate_ids"] == [wildcard_id]
    assert unlisted["legacy.example.com"]["serials"] == [format(precert.serial_number, "x")]
    assert {s["source"] for s in document["sources"]} >= {
        "ct:ct/example.com.json",
        "ct:ct/log.json",
    }


def test_a_zone_that_cannot_be_read_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "db.example.com").write_text(
        "$ORIGIN example.com.\napp IN A 127.0.0.1\nweb IN A not-an-address\n", encoding="utf-8"
    )
    config = tmp_path / "ticketbridge.toml"
    config.write_text('[[sources.zone]]\nfile = "zones/db.example.com"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 2
    assert f"{zones / 'db.example.com'}:3:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_octodns_prometheus_and_kubernetes_sources_merge_into_one_scan(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    (tmp_path / "octodns").mkdir()
    (tmp_path / "octodns" / "example.com.yaml").write_text(
        f"---\napp:\n  type: A\n  value: {ADDRESS}\nwww:\n  type: CNAME\n  value: app.example.com.\n",
        encoding="utf-8",
    )
    write_json(tmp_path / "targets" / "blackbox.json", [{"targets": [f"{ADDRESS}:{server.port}"]}])
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "www", "namespace": "web"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64.b64encode(pki["www"].pem).decode(), "tls.key": ""},
    }
    write_json(tmp_path / "k8s" / "dump.json", {"kind": "List", "items": [secret]})
    extra = f"""
[[sources.octodns]]
path = "octodns"
ports = [{server.port}]

[[sources.prometheus]]
file_sd = "targets/*.json"

[[sources.kubernetes]]
path = "k8s/*.json"
"""
    document = _scan(_config(tmp_path, server, pki, extra))

    hosts = [o["endpoint"]["host"] for o in document["observations"]]
    # app and www are listed by the zone and by octoDNS at the same address: probed once each.
    assert len(hosts) == len(set(hosts))
    assert set(hosts) == {
        ADDRESS,
        "api.example.com",
        "app.example.com",
        "ns1.example.com",
        "status.example.com",
        "www.example.com",
        f"{tmp_path / 'k8s' / 'dump.json'}#secret/web/www",
    }
    sources = {o["endpoint"]["host"]: o["endpoint"]["source"] for o in document["observations"]}
    assert sources["app.example.com"] == "zone:zones/db.example.com"  # the first to list it
    assert sources[ADDRESS] == "prometheus:targets/blackbox.json"
    assert sources[f"{tmp_path / 'k8s' / 'dump.json'}#secret/web/www"] == "kubernetes:k8s/dump.json"
    # The Secret's certificate and the one www serves are one tracked certificate.
    www = next(c for c in document["certificates"] if c["names"] == ["www.example.com"])
    assert len(www["endpoints"]) == 2
    counts = {s["source"]: (s["endpoints"], s["certificates"]) for s in document["sources"]}
    assert counts == {
        "zone:zones/db.example.com": (5, 0),
        "octodns:octodns/example.com.yaml": (2, 0),
        "prometheus:targets/blackbox.json": (1, 0),
        "kubernetes:k8s/dump.json": (0, 1),
    }


def test_reconcile_records_the_ct_findings_and_the_report_shows_them(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    server, pki = fleet
    renewal, _ = _ct_files(tmp_path, pki)
    extra = (
        '[[sources.ct]]\nfile = "ct/*.json"\n'
        '[tickets]\nlocal_path = "tickets.db"\n[audit]\nlog_path = "audit.jsonl"\n'
    )
    config = _config(tmp_path, server, pki, extra)
    reconciled = run_cli("--config", str(config), "reconcile", "--format", "json")
    assert reconciled.returncode == 0, reconciled.stderr

    report = run_cli("--config", str(config), "report", "--format", "json")
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["ct_findings"]
    issued = [row for row in rows if row["finding"] == "issued_not_deployed"]
    assert [row["serial"] for row in issued] == [format(renewal.certificate.serial_number, "x")]
    assert issued[0]["certificate_id"] == tracked_id(["*.example.com", "example.com"])
    markdown = run_cli("--config", str(config), "report", "--format", "md")
    assert "## Certificate Transparency: issued versus served (3)" in markdown.stdout
    assert format(renewal.certificate.serial_number, "x") in markdown.stdout
    html = run_cli("--config", str(config), "report", "--format", "html")
    assert "Certificate Transparency: issued versus served (3)" in html.stdout
    assert "<td>issued_not_deployed</td>" in html.stdout


def test_an_undeployed_renewal_gets_a_ticket_only_when_the_policy_asks(
    tmp_path: Path, fleet: tuple[TLSServer, dict[str, Issued]]
) -> None:
    """status.example.com's served certificate is 60 days from expiry (beyond the 45-day
    horizon: no ticket of its own); CT shows its renewal issued, and no endpoint serves it."""
    server, pki = fleet
    status_renewal = make_leaf(
        pki["intermediate"],
        names=("status.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=150),
        key_slot="cli-status-renewal",
    )
    logged = NOW - timedelta(hours=5)
    write_json(
        tmp_path / "ct" / "status.json",
        [
            crtsh_row(pki["status"].certificate, logged, 1),
            crtsh_row(status_renewal.certificate, logged, 2),
        ],
    )
    status_id = tracked_id(["status.example.com"])
    stores: dict[str, LocalTicketStore] = {}
    for flag in ("false", "true"):
        home = tmp_path / flag
        home.mkdir()
        (home / "ct").mkdir()
        (home / "ct" / "status.json").write_bytes((tmp_path / "ct" / "status.json").read_bytes())
        extra = (
            '[[sources.ct]]\nfile = "ct/*.json"\n'
            f"[policy]\nticket_undeployed_renewals = {flag}\n"
            '[tickets]\nlocal_path = "tickets.db"\n[audit]\nlog_path = "audit.jsonl"\n'
        )
        config = _config(home, server, pki, extra)
        done = run_cli("--config", str(config), "reconcile", "--format", "json")
        assert done.returncode == 0, done.stderr
        again = run_cli("--config", str(config), "plan", "--detailed-exitcode")
        assert again.returncode == 0, again.stdout  # converged: nothing left to do
        stores[flag] = LocalTicketStore(home / "tickets.db")

    def status_tickets(store: LocalTicketStore) -> list[str]:
        return [t.key for t in store.all_tickets() if f"tb-{status_id}" in t.labels]

    assert status_tickets(stores["false"]) == []  # a finding only
    (key,) = status_tickets(stores["true"])
    (comment,) = stores["true"].comments(key)
    serial = format(status_renewal.certificate.serial_number, "x")
    assert f"a renewal (serial {serial}" in comment.body and "deploy it" in comment.body
