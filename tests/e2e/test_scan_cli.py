"""`ticketbridge scan` as a user runs it: a real process, a config file, real TLS servers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.tlsservers import TLSServer
from ticketbridge.core.shapes import observation_from_json


@pytest.fixture
def config(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    bundle = write_pem(tmp_path / "root.pem", pki["root"])
    path = tmp_path / "ticketbridge.toml"
    path.write_text(
        f"""
[discovery]
concurrency = 4
connect_timeout = 1.0
handshake_timeout = 2.0
ca_bundle = "{bundle}"

[[endpoints]]
host = "app.example.com"
port = {server.port}
addresses = ["127.0.0.6"]

[[endpoints]]
host = "api.example.com"
port = {server.port}
addresses = ["127.0.0.6"]

[[endpoints]]
host = "www.example.com"
port = {server.port}
addresses = ["127.0.0.6"]

[[endpoints]]
host = "down.example.com"
port = 1
addresses = ["127.0.0.7"]
""",
        encoding="utf-8",
    )
    return path


def test_json_has_observations_and_certificates_grouped_by_name_set(
    config: Path, server: TLSServer
) -> None:
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)

    by_host = {o["endpoint"]["host"]: o for o in document["observations"]}
    assert set(by_host) == {
        "app.example.com",
        "api.example.com",
        "www.example.com",
        "down.example.com",
    }
    app = by_host["app.example.com"]
    assert app["status"] == "ok" and app["error"] is None
    assert app["endpoint"] == {
        "host": "app.example.com",
        "port": server.port,
        "address": "127.0.0.6",
        "sni": "app.example.com",
        "protocol": "tls",
    }
    assert app["certificate"]["names"] == ["*.example.com", "example.com"]
    assert app["certificate"]["not_after"].endswith("Z") and app["observed_at"].endswith("Z")
    assert len(app["chain"]) == 2 and app["chain"][1]["subject"] == "CN=CLI Intermediate"
    assert app["verification"] == {"trusted": True, "hostname_match": True, "error": None}
    down = by_host["down.example.com"]
    assert (
        down["status"] == "error"
        and down["error"]["kind"] == "refused"
        and down["certificate"] is None
    )

    certificates = {tuple(c["names"]): c for c in document["certificates"]}
    wildcard = certificates[("*.example.com", "example.com")]
    assert wildcard["id"] == hashlib.sha256(b"*.example.com\nexample.com").hexdigest()[:16]
    assert wildcard["endpoints"] == [
        f"api.example.com:{server.port}@127.0.0.6",
        f"app.example.com:{server.port}@127.0.0.6",
    ]
    assert wildcard["effective_not_after"] == app["certificate"]["not_after"]
    assert len(wildcard["fingerprints"]) == 1
    assert certificates[("www.example.com",)]["endpoints"] == [
        f"www.example.com:{server.port}@127.0.0.6"
    ]


def test_jsonl_is_one_observation_per_line_and_reads_back(config: Path, tmp_path: Path) -> None:
    output = tmp_path / "observations.jsonl"
    result = run_cli("--config", str(config), "scan", "--format", "jsonl", "--output", str(output))
    assert result.returncode == 0, result.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    observations = [observation_from_json(json.loads(line)) for line in lines]
    assert {o.status for o in observations} == {"ok", "error"}


def test_table_groups_by_certificate_and_lists_errors_after(config: Path) -> None:
    result = run_cli("--config", str(config), "scan", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    table, _, errors = result.stdout.partition("could not be observed")
    assert "*.example.com" in table and "www.example.com" in table
    assert "trusted" in table
    assert "down.example.com:1@127.0.0.7" in errors and "refused" in errors
    assert (
        "2 certificate(s) on 3 endpoint(s); 1 endpoint(s) could not be observed." in result.stdout
    )


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        (
            '[[endpoints]]\nhost = "a.example.com"\nprot = 443\n',
            {},
            "endpoints[0].prot: unknown key",
        ),
        ('[discovery]\nconcurrency = 0\n[[endpoints]]\nhost = "a"\n', {}, "discovery.concurrency:"),
        ('[policy]\ntimezone = "Mars/Olympus"\n', {}, "policy.timezone: unknown IANA time zone"),
        ("[discovery\n", {}, "invalid TOML"),
        (
            '[[endpoints]]\nhost = "a.example.com"\n',
            {"TICKETBRIDGE_DISCOVERY__CONCURRENCY": "-1"},
            "discovery.concurrency:",
        ),
        (
            '[[endpoints]]\nhost = "a.example.com"\naddresses = ["not-an-ip"]\n',
            {},
            "endpoints[0].addresses: 'not-an-ip' is not an IP address",
        ),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    result = run_cli("--config", str(path), "scan", env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # An override is named by its variable, not by the file it overrides (issue 10).
    where = f"environment variable {next(iter(env))}" if env else str(path)
    assert lines[0].startswith(f"ticketbridge: error: {where}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_config_is_found_through_the_environment_then_the_working_directory(
    config: Path, tmp_path: Path
) -> None:
    via_env = run_cli("scan", "--format", "jsonl", env={"TICKETBRIDGE_CONFIG": str(config)})
    assert via_env.returncode == 0, via_env.stderr
    assert len(via_env.stdout.splitlines()) == 4
    missing = run_cli("--config", str(tmp_path / "nope.toml"), "scan")
    assert missing.returncode == 2 and "nope.toml: file not found" in missing.stderr
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    nothing = run_cli("scan", cwd=empty_dir)
    assert nothing.returncode == 2
    # Not a complaint about the contents of a file that does not exist: where it looked, and how
    # to make one (issue 19).
    assert nothing.stderr.count("\n") == 1
    assert "no configuration found" in nothing.stderr
    assert "$TICKETBRIDGE_CONFIG" in nothing.stderr and "./ticketbridge.toml" in nothing.stderr
    assert "ticketbridge init" in nothing.stderr


def test_certificate_files_are_scanned_offline(tmp_path: Path, pki: dict[str, Issued]) -> None:
    (tmp_path / "certs").mkdir()
    write_pem(tmp_path / "certs" / "fullchain.pem", pki["www"], pki["intermediate"], pki["root"])
    config = tmp_path / "files.toml"
    config.write_text(f'[[files]]\npath = "{tmp_path}/certs/*.pem"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [c["names"] for c in document["certificates"]] == [["www.example.com"]]
    assert document["certificates"][0]["endpoints"] == [f"file:{tmp_path}/certs/fullchain.pem#0"]
    assert len(document["observations"][0]["chain"]) == 3


def test_version_and_json_logs(config: Path) -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("ticketbridge ")
    logged = run_cli(
        "--config", str(config), "--debug", "--log-format", "json", "scan", "--format", "jsonl"
    )
    assert logged.returncode == 0
    records = [json.loads(line) for line in logged.stderr.splitlines() if line.startswith("{")]
    assert any(
        record["message"] == "scan finished" and record["certificates"] == 2 for record in records
    )


def test_worker_processes_observe_exactly_what_one_process_does(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    results = {}
    for workers in (1, 2):
        variant = config.with_name(f"workers{workers}.toml")
        variant.write_text(
            text.replace("concurrency = 4", f"concurrency = 6\nworkers = {workers}"),
            encoding="utf-8",
        )
        result = run_cli("--config", str(variant), "scan", "--format", "json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        for observation in document["observations"]:
            observation.pop("observed_at")
        results[workers] = document
    assert results[2]["observations"] == results[1]["observations"]
    assert results[2]["certificates"] == results[1]["certificates"]


def test_odd_certificates_on_disk_leave_stderr_clean(tmp_path: Path) -> None:
    from support.certs import der_with_serial, make_leaf, pem_of

    issued = make_leaf(names=["negative.example.com"], key_slot="negative")
    (tmp_path / "odd.pem").write_bytes(
        pem_of(der_with_serial(issued.certificate, issued.key, -0x1234))
    )
    config = tmp_path / "odd.toml"
    config.write_text('[[files]]\npath = "odd.pem"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "scan", "--format", "json")
    assert result.returncode == 0
    assert result.stderr == ""  # no library warnings leak to an operator's terminal
    (observation,) = json.loads(result.stdout)["observations"]
    assert observation["certificate"]["serial"] == "-1234"
