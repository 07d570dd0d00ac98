"""`ticketbridge doctor` checks against the local Jira and the embedded store: verdicts, not calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from support.jirafake import JiraFake, default_transitions
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.app.config import Settings
from ticketbridge.app.doctor import CheckResult, checks_to_json, render_checks, run_checks


def jira_settings(fake: JiraFake, **jira: Any) -> Settings:
    values = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
        **jira,
    }
    return Settings(tickets={"backend": "jira"}, jira=values)


def verdicts(results: list[CheckResult]) -> dict[str, bool]:
    return {result.name: result.ok for result in results}


def check(settings: Settings, tmp_path: Path) -> list[CheckResult]:
    return run_checks(settings, tmp_path / "ticketbridge.toml", sleep=lambda seconds: None)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_healthy_jira_passes_every_check(flavour: str, tmp_path: Path) -> None:
    with JiraFake(flavour=flavour) as fake:
        fake.seed_issue("Open one")
        fake.seed_issue("Closed one", status="Done")
        results = check(jira_settings(fake), tmp_path)
        writes = fake.write_count()
    assert all(result.ok for result in results), results
    names = [result.name for result in results]
    for expected in ("config", "reachability", "TLS", "credentials", "deployment", "project",
                     "issue type", "priority", "permission: browse", "permission: create",
                     "permission: edit", "permission: comment", "permission: transition",
                     "transition: done", "transition: reopen"):  # fmt: skip
        assert expected in names
    assert writes == 0  # doctor never writes
    document = checks_to_json(results)
    assert document["ok"] is True and json.dumps(document)
    console = Console(record=True, width=160)
    console.print(render_checks(results))
    assert "transition: reopen" in console.export_text()


def test_bad_token_fails_credentials_without_showing_it(tmp_path: Path) -> None:
    with JiraFake(flavour="cloud") as fake:
        results = check(jira_settings(fake, token="wrong-secret-token"), tmp_path)
    assert verdicts(results)["credentials"] is False
    assert "wrong-secret-token" not in json.dumps(checks_to_json(results))


def test_missing_permission_priority_and_issue_type_fail(tmp_path: Path) -> None:
    with JiraFake(flavour="datacenter", denied_permissions={"TRANSITION_ISSUES"}) as fake:
        results = check(
            jira_settings(fake, escalation_priority="Blocker", issue_type="Story"), tmp_path
        )
    found = verdicts(results)
    assert found["permission: transition"] is False
    assert found["priority"] is False
    assert found["issue type"] is False
    assert found["permission: create"] is True


def test_renamed_transitions_pass_by_category_and_say_so(tmp_path: Path) -> None:
    workflow = default_transitions(done="Resolve Issue", reopen="Back to the queue")
    with JiraFake(flavour="cloud", transitions=workflow) as fake:
        fake.seed_issue("Open one")
        results = check(jira_settings(fake, done_transition="Close"), tmp_path)
    done = next(result for result in results if result.name == "transition: done")
    assert done.ok and "by status category" in done.detail and "Resolve Issue" in done.detail


def test_wrong_deployment_and_unreachable_jira_fail(tmp_path: Path) -> None:
    with JiraFake(flavour="datacenter") as fake:
        results = check(jira_settings(fake, deployment="cloud"), tmp_path)
        assert verdicts(results)["deployment"] is False
        url = fake.url
    results = check(jira_settings(fake, url=url), tmp_path)
    assert verdicts(results) == {"config": True, "reachability": False}


def test_config_problem_is_one_failed_check(tmp_path: Path) -> None:
    settings = Settings(tickets={"backend": "jira"}, jira={"url": "https://jira.invalid"})
    results = check(settings, tmp_path)
    assert [(r.name, r.ok) for r in results] == [("config", False)]
    assert "jira.project" in results[0].detail


def test_local_backend_checks_the_store(tmp_path: Path) -> None:
    settings = Settings(tickets={"backend": "local", "local_path": str(tmp_path / "t.db")})
    results = run_checks(settings, tmp_path / "ticketbridge.toml")
    assert all(result.ok for result in results)
    (tmp_path / "t.db").write_text("not a database")
    results = run_checks(settings, tmp_path / "ticketbridge.toml")
    assert verdicts(results)["ticket store"] is False
