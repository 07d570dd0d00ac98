"""`ticketbridge doctor` checks against the local Jira and the embedded store: verdicts, not calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from support.hostile import Answer, Hostile, jira_json
from support.jirafake import JiraFake, User, default_transitions
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.jirafake.state import BOT
from ticketbridge.app.config import CertificateSettings, Settings
from ticketbridge.app.doctor import CheckResult, checks_to_json, run_checks
from ticketbridge.cli.tables import doctor_table


def jira_settings(fake: JiraFake, **jira: Any) -> Settings:
    values = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
        **jira,
    }
    return Settings.model_validate({"tickets": {"backend": "jira"}, "jira": values})


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
    console.print(doctor_table(results))
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
    settings = Settings.model_validate(
        {"tickets": {"backend": "jira"}, "jira": {"url": "https://jira.invalid"}}
    )
    results = check(settings, tmp_path)
    assert [(r.name, r.ok) for r in results] == [("config", False)]
    assert "jira.project" in results[0].detail


def test_local_backend_checks_the_store(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"tickets": {"backend": "local", "local_path": str(tmp_path / "t.db")}}
    )
    results = run_checks(settings, tmp_path / "ticketbridge.toml")
    assert all(result.ok for result in results)
    (tmp_path / "t.db").write_text("not a database")
    results = run_checks(settings, tmp_path / "ticketbridge.toml")
    assert verdicts(results)["ticket store"] is False


# -- issue 8: the project's own screens, the assignees Cloud can name --------------------------


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_priority_outside_the_projects_scheme_fails_though_it_exists_site_wide(
    flavour: str, tmp_path: Path
) -> None:
    with JiraFake(flavour=flavour, priority_scheme=("High", "Medium", "Low")) as fake:
        fake.seed_issue("Open one")
        results = check(jira_settings(fake, escalation_priority="Highest"), tmp_path)
        allowed = check(jira_settings(fake, escalation_priority="High"), tmp_path)
    priority = next(result for result in results if result.name == "priority")
    assert priority.ok is False
    assert "'Highest' is not allowed on the create screen of OPS/Task: High, Medium, Low" in (
        priority.detail
    )
    ok = next(result for result in allowed if result.name == "priority")
    assert ok.ok and "edit screen of OPS-1" in ok.detail


def test_cloud_assignee_whose_email_is_hidden_is_named_by_doctor(tmp_path: Path) -> None:
    hidden = User("557058:carol-0003", "carol", "Carol", "carol@example.com", email_visible=False)
    with JiraFake(flavour="cloud", users=[BOT, hidden]) as fake:
        settings = jira_settings(fake)
        settings = settings.model_copy(
            update={
                "certificates": [
                    CertificateSettings(names=["a.example.com"], assignee="carol@example.com"),
                    CertificateSettings(names=["b.example.com"], assignee="557058:carol-0003"),
                ]
            }
        )
        results = check(settings, tmp_path)
    found = {result.name: result for result in results}
    assert found["assignee: 557058:carol-0003"].ok
    carol = found["assignee: carol@example.com"]
    assert carol.ok is False
    assert "Jira Cloud returns no account for 'carol@example.com'" in carol.detail


# -- issue 10: a confusing answer is a FAIL line, never a crash ---------------------------------


@pytest.mark.parametrize(
    "project",
    [{}, [], "OPS", None, {"key": "OPS", "name": "Ops", "issueTypes": "Task"}],
    ids=["empty", "list", "string", "null", "types-a-string"],
)
def test_doctor_fails_a_check_on_a_wrong_shape_instead_of_crashing(
    project: Any, tmp_path: Path
) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        if path.endswith("/serverInfo"):
            return jira_json({"deploymentType": "Server", "version": "9.12.15"})
        if path.endswith("/myself"):
            return jira_json({"name": "bot"})
        if "/project/" in path:
            return jira_json(project)
        return jira_json({"weird": True})

    with Hostile(script) as peer:
        settings = Settings.model_validate(
            {
                "tickets": {"backend": "jira"},
                "jira": {
                    "url": peer.url,
                    "project": "OPS",
                    "token": "t",
                    "requests_per_second": 1000,
                },
            }
        )
        results = check(settings, tmp_path)
    assert not all(result.ok for result in results)
    assert not any("None" in result.detail for result in results)
    failed = [result for result in results if not result.ok]
    assert failed and all("unexpected answer" in r.detail for r in failed), failed
