"""A real certificate with 10,000 names, read from a file: its ticket is created once, every later
run converges, on the embedded store and on Jira; and the file's label is the same however
`--config` was spelled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.certs import make_ca, make_leaf, many_names, write_pem
from support.cli import run_cli
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401

NAMES = 10_000


def _big_certificate(directory: Path) -> Path:
    (directory / "certs").mkdir()
    ca = make_ca("Big Names CA")
    now = datetime.now(UTC)
    leaf = make_leaf(
        ca,
        names=many_names(NAMES, "many.example.com"),
        not_before=now - timedelta(days=80),
        not_after=now + timedelta(days=10),
    )
    return write_pem(directory / "certs" / "big.pem", leaf, ca)


def _reconcile(config: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    result = run_cli(
        "--config", config, "reconcile", "--format", "json", env=env, cwd=cwd, timeout=300
    )
    assert result.returncode == 0, result.stderr + result.stdout[-2000:]
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _kinds(document: dict[str, object]) -> list[str]:
    actions = document["actions"]
    assert isinstance(actions, list)
    assert all(action["applied"] for action in actions if action["kind"] != "unobserved")
    return sorted(str(action["kind"]) for action in actions)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "jira-datacenter", "jira-cloud"])
def test_ten_thousand_names_get_one_ticket_and_the_next_runs_write_nothing(
    tmp_path: Path, backend: str
) -> None:
    certificate = _big_certificate(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    common = '[[files]]\npath = "certs/big.pem"\n\n[audit]\nlog_path = "audit.jsonl"\n\n'
    with JiraFake(flavour=backend.removeprefix("jira-") if "jira" in backend else "cloud") as fake:
        if backend == "local":
            tickets = '[tickets]\nbackend = "local"\nlocal_path = "tickets.db"\n'
            env: dict[str, str] = {}
        else:
            tickets = (
                '[tickets]\nbackend = "jira"\n\n'
                f'[jira]\nurl = "{fake.url}"\nproject = "OPS"\nemail = "{fake.email}"\n'
                "requests_per_second = 1000\n"
            )
            env = {"TICKETBRIDGE_JIRA__TOKEN": fake.token}
        (tmp_path / "c.toml").write_text(common + tickets, encoding="utf-8")

        first = _reconcile("c.toml", tmp_path, env)  # relative --config, run from its directory
        assert "create" in _kinds(first)
        second = _reconcile(str(tmp_path / "c.toml"), elsewhere, env)  # absolute, from elsewhere
        assert _kinds(second) == [], second
        third = _reconcile("../c.toml", elsewhere, env)  # relative, from elsewhere
        assert _kinds(third) == [], third

        listed = run_cli("--config", "c.toml", "tickets", "--format", "json", env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        tickets_found = json.loads(listed.stdout)
        found = tickets_found["tickets"] if isinstance(tickets_found, dict) else tickets_found
        assert len(found) == 1, found

    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert f"file:{certificate}#0" in audit  # one label for all three spellings
    assert "host9999.many.example.com" in audit  # the full name list stays in the audit trail


def test_a_files_label_is_the_same_however_config_was_spelled(tmp_path: Path) -> None:
    certificate = _big_certificate(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "c.toml").write_text('[[files]]\npath = "certs/big.pem"\n', encoding="utf-8")
    spellings = [
        ("c.toml", tmp_path),
        ("./c.toml", tmp_path),
        (str(tmp_path / "c.toml"), elsewhere),
        ("../c.toml", elsewhere),
        (f"{elsewhere}/../c.toml", elsewhere),
    ]

    labels = set()
    for config, cwd in spellings:
        result = run_cli("--config", config, "scan", "--format", "json", cwd=cwd, timeout=300)
        assert result.returncode == 0, result.stderr
        (observation,) = json.loads(result.stdout)["observations"]
        labels.add(observation["endpoint"]["host"])

    assert labels == {str(certificate)}
