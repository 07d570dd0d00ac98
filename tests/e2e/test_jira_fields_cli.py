"""Required fields as an operator meets them: `doctor` names each one (text and JSON), and a
`reconcile` that would create stops with one line and exit 2, writing nothing, until the
config supplies them; then it files the ticket with them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from support.builders import WILDCARD, served
from support.cli import run_cli
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.jirafake.screens import ScreenField
from ticketbridge.core.shapes import observations_jsonl

TEAM = ScreenField(
    "customfield_10042",
    "Team",
    allowed=({"id": "10100", "value": "Platform"}, {"id": "10101", "value": "Security"}),
)


def write_config(tmp_path: Path, fake: JiraFake, extra: str = "") -> Path:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        '[tickets]\nbackend = "jira"\n\n'
        f'[jira]\nurl = "{fake.url}"\nproject = "OPS"\nemail = "{fake.email}"\n'
        f"requests_per_second = 1000\n{extra}",
        encoding="utf-8",
    )
    return config


def expiring_soon(tmp_path: Path) -> Path:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    seen = served("app.example.com", "192.0.2.10", WILDCARD, now + dt.timedelta(days=10))
    path = tmp_path / "observations.jsonl"
    path.write_text("".join(observations_jsonl([dataclasses.replace(seen, observed_at=now)])))
    return path


def test_doctor_names_the_missing_field_in_text_and_json(tmp_path: Path) -> None:
    with JiraFake(flavour="cloud", create_screen=(TEAM,)) as fake:
        config = write_config(tmp_path, fake)
        env = {"TICKETBRIDGE_JIRA__TOKEN": fake.token, "COLUMNS": "400"}
        text = run_cli("--config", str(config), "doctor", env=env)
        as_json = run_cli("--config", str(config), "doctor", "--format", "json", env=env)
    assert text.returncode == 1 and as_json.returncode == 1
    assert "Team (customfield_10042) is required" in text.stdout
    assert "jira.create_fields.customfield_10042" in text.stdout
    (failed,) = [c for c in json.loads(as_json.stdout)["checks"] if not c["ok"]]
    assert failed["name"] == "fields: create"
    assert failed["detail"] == (
        "the create screen of OPS/Task: Team (customfield_10042) is required and has no "
        "default; set jira.create_fields.customfield_10042"
    )


def test_reconcile_stops_with_exit_2_then_files_once_configured(tmp_path: Path) -> None:
    observations = expiring_soon(tmp_path)
    with JiraFake(flavour="datacenter", create_screen=(TEAM,)) as fake:
        env = {"TICKETBRIDGE_JIRA__TOKEN": fake.token}
        config = write_config(tmp_path, fake)
        stopped = run_cli(
            "--config", str(config), "reconcile", "--observations", str(observations), env=env
        )
        assert stopped.returncode == 2, stopped.stdout + stopped.stderr
        assert fake.write_count() == 0 and not fake.state.issues
        lines = stopped.stderr.strip().splitlines()
        assert len(lines) == 1 and "set jira.create_fields.customfield_10042" in lines[0]

        write_config(
            tmp_path, fake, 'create_fields = { customfield_10042 = { value = "Platform" } }\n'
        )
        filed = run_cli(
            "--config", str(config), "reconcile", "--observations", str(observations), env=env
        )
        assert filed.returncode == 0, filed.stdout + filed.stderr
        (issue,) = fake.state.issues.values()
        assert issue.custom == {"customfield_10042": {"value": "Platform"}}
