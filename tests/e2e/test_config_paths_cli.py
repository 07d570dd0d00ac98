"""Configuration paths a user writes, end to end: STARTTLS by name, IPv6 addresses, PKCS#12 with
its password from the environment."""

from __future__ import annotations

import json
from pathlib import Path

from support.certs import Issued, write_pkcs12
from support.cli import run_cli
from support.starttls_servers import StartTLSServer, TLSIdentity, smtp
from support.tlsservers import Served, TLSServer


def scan_json(
    config: Path, env: dict[str, str] | None = None
) -> dict[str, list[dict[str, object]]]:
    result = run_cli("--config", str(config), "scan", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, list[dict[str, object]]] = json.loads(result.stdout)
    return document


def test_starttls_smtp_from_the_config(tmp_path: Path) -> None:
    identity = TLSIdentity.create("mail.example.com")
    with StartTLSServer(smtp(), identity) as server:
        config = tmp_path / "mail.toml"
        config.write_text(
            f'[[endpoints]]\nhost = "mail.example.com"\nport = {server.port}\n'
            f'addresses = ["127.0.0.1"]\nstarttls = "smtp"\n',
            encoding="utf-8",
        )
        (observation,) = scan_json(config)["observations"]
    assert observation["status"] == "ok", observation["error"]
    assert observation["endpoint"]["protocol"] == "smtp"  # type: ignore[index]
    assert observation["certificate"]["names"] == ["mail.example.com"]  # type: ignore[index]


def test_ipv6_addresses_from_the_config(tmp_path: Path, pki: dict[str, Issued]) -> None:
    with TLSServer(Served([pki["www"], pki["intermediate"]]), address="::1") as server:
        config = tmp_path / "v6.toml"
        config.write_text(
            f'[[endpoints]]\nhost = "www.example.com"\nport = {server.port}\naddresses = ["::1"]\n',
            encoding="utf-8",
        )
        document = scan_json(config)
    (observation,) = document["observations"]
    assert observation["status"] == "ok", observation["error"]
    assert document["certificates"][0]["endpoints"] == [f"www.example.com:{server.port}@[::1]"]


def test_pkcs12_password_comes_from_the_named_environment_variable(
    tmp_path: Path, pki: dict[str, Issued]
) -> None:
    write_pkcs12(tmp_path / "www.p12", pki["www"], [pki["intermediate"]], password=b"s3cret-p12")
    config = tmp_path / "p12.toml"
    config.write_text(
        '[[files]]\npath = "*.p12"\npassword_env = "WWW_P12_PASSWORD"\n', encoding="utf-8"
    )

    document = scan_json(config, env={"WWW_P12_PASSWORD": "s3cret-p12"})
    assert [c["names"] for c in document["certificates"]] == [["www.example.com"]]

    missing = run_cli("--config", str(config), "scan")
    assert missing.returncode == 2
    assert (
        "files[0].password_env: environment variable WWW_P12_PASSWORD is not set" in missing.stderr
    )

    wrong = run_cli(
        "--config", str(config), "scan", "--format", "json", env={"WWW_P12_PASSWORD": "nope"}
    )
    assert wrong.returncode == 0
    (observation,) = json.loads(wrong.stdout)["observations"]
    assert observation["error"]["kind"] == "file"
    assert "nope" not in wrong.stdout and "s3cret" not in wrong.stdout
