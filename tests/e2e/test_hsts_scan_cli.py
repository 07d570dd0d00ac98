"""`scan` shows HSTS: the JSON `hsts` object, the table column, `[policy] hsts_min_max_age`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.https_servers import HTTPSServer, response
from support.tlsservers import Served

ADDRESS = "127.0.0.18"


@pytest.fixture
def server(pki: dict[str, Issued]) -> Iterator[HTTPSServer]:
    header = "Strict-Transport-Security: max-age=86400; includeSubDomains"
    with HTTPSServer(
        Served([pki["wildcard"], pki["intermediate"]]), response(header), ADDRESS
    ) as s:
        yield s


def configure(tmp_path: Path, server: HTTPSServer, pki: dict[str, Issued], extra: str) -> Path:
    write_pem(tmp_path / "root.pem", pki["root"])
    (tmp_path / "ticketbridge.toml").write_text(
        '[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        f'[[endpoints]]\nhost = "app.example.com"\nport = {server.port}\n'
        f'addresses = ["{ADDRESS}"]\nhttp = true\n\n'
        f'[[endpoints]]\nhost = "api.example.com"\nport = {server.port}\n'
        f'addresses = ["{ADDRESS}"]\n\n'
        '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n\n' + extra,
        encoding="utf-8",
    )
    return tmp_path / "ticketbridge.toml"


def test_scan_reports_hsts_for_https_endpoints_only(
    tmp_path: Path, server: HTTPSServer, pki: dict[str, Issued]
) -> None:
    config = configure(tmp_path, server, pki, "[policy]\nhsts_min_max_age = 31536000\n")
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 0, result.stderr
    by_host = {o["endpoint"]["host"]: o for o in json.loads(result.stdout)["observations"]}
    assert by_host["app.example.com"]["hsts"] == {
        "present": True, "max_age": 86400, "include_subdomains": True, "preload": False,
        "status": 200, "error": None, "below_min_max_age": True,
    }  # fmt: skip
    assert by_host["api.example.com"]["hsts"] is None  # not port 443, not http = true
    assert len(server.requests) == 1

    rendered = tmp_path / "scan.txt"  # a file renders 160 columns wide: no folded cells
    table = run_cli("--config", str(config), "scan", "--output", str(rendered))
    assert table.returncode == 0, table.stderr
    text = rendered.read_text(encoding="utf-8")
    assert "HSTS" in text and "max-age 1d, subdomains (200) below 365d" in text


def test_hsts_never_and_observations_files_round_trip(
    tmp_path: Path, server: HTTPSServer, pki: dict[str, Issued]
) -> None:
    config = configure(tmp_path, server, pki, "")
    lines = run_cli("--config", str(config), "scan", "--format", "jsonl")
    assert lines.returncode == 0, lines.stderr
    observations = tmp_path / "observations.jsonl"
    observations.write_text(lines.stdout, encoding="utf-8")
    assert any(json.loads(line)["hsts"] for line in lines.stdout.splitlines())
    plan = run_cli("--config", str(config), "plan", "--observations", str(observations))
    assert plan.returncode == 0, plan.stderr

    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[discovery]\n", '[discovery]\nhsts = "never"\n'
        ),
        encoding="utf-8",
    )
    never = run_cli("--config", str(config), "scan", "--format", "json")
    assert never.returncode == 0, never.stderr
    assert all(o["hsts"] is None for o in json.loads(never.stdout)["observations"])
    assert "HSTS" not in run_cli("--config", str(config), "scan").stdout
