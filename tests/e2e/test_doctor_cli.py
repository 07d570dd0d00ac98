"""`ticketbridge doctor` as an operator runs it: a verdict per check and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import run_cli
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401


def write_config(path: Path, fake: JiraFake) -> Path:
    path.write_text(
        f'[tickets]\nbackend = "jira"\n\n[jira]\nurl = "{fake.url}"\nproject = "OPS"\n'
        f'email = "{fake.email}"\nrequests_per_second = 1000\n',
        encoding="utf-8",
    )
    return path


def test_doctor_passes_against_a_healthy_jira_and_names_each_check(tmp_path: Path) -> None:
    with JiraFake(flavour="datacenter") as fake:
        config = write_config(tmp_path / "ticketbridge.toml", fake)
        result = run_cli(
            "--config",
            str(config),
            "doctor",
            "--format",
            "json",
            env={"TICKETBRIDGE_JIRA__TOKEN": fake.token},
        )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert {"credentials", "project", "permission: create"} <= {
        check["name"] for check in document["checks"]
    }


def test_doctor_fails_on_a_bad_token_and_never_prints_it(tmp_path: Path) -> None:
    with JiraFake(flavour="cloud") as fake:
        config = write_config(tmp_path / "ticketbridge.toml", fake)
        result = run_cli(
            "--config",
            str(config),
            "doctor",
            env={"TICKETBRIDGE_JIRA__TOKEN": "wrong-S3CRET-token"},
        )
    assert result.returncode == 1
    assert "credentials" in result.stdout
    assert "wrong-S3CRET-token" not in result.stdout + result.stderr


def test_doctor_checks_the_embedded_store(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text('[tickets]\nlocal_path = "tickets.db"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
