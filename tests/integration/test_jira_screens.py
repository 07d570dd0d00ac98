"""Projects whose screens require more than a summary: create and transition fields, checked
by doctor and before a run's first write, against the local Jira made as strict as the vendor."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from support.builders import NOW, RENEWED_EXPIRY, WILDCARD, WILDCARD_EXPIRY, served
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.jirafake.screens import ScreenField
from ticketbridge.app.config import Settings
from ticketbridge.app.doctor import checks_to_json, run_checks
from ticketbridge.app.run import reconcile
from ticketbridge.core.model import MARKER_LABEL, Observation, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import ConfigError
from ticketbridge.tickets.jira.failures import JiraPermanentError
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

FLAVOURS = ["cloud", "datacenter"]
TEAM = ScreenField(
    "customfield_10042",
    "Team",
    allowed=({"id": "10100", "value": "Platform"}, {"id": "10101", "value": "Security"}),
)
COMPONENTS = ScreenField(
    "components", "Component/s", multiple=True, allowed=({"id": "10000", "name": "TLS"},)
)
ROOT_CAUSE = ScreenField(
    "customfield_10050", "Root cause", allowed=({"id": "10200", "value": "Renewed"},)
)
CREATE_FIELDS = {"components": [{"name": "TLS"}], "customfield_10042": {"value": "Platform"}}
TRANSITION_FIELDS = {"Done": {"customfield_10050": {"value": "Renewed"}}}


def strict(flavour: str) -> JiraFake:
    return JiraFake(
        flavour=flavour,
        clock=lambda: NOW,
        create_screen=(TEAM, COMPONENTS),
        transition_screens={"Done": (ROOT_CAUSE,)},
    )


def settings_for(fake: JiraFake, **jira: Any) -> Settings:
    values = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
        **jira,
    }
    return Settings.model_validate({"tickets": {"backend": "jira"}, "jira": values})


def expiring() -> list[Observation]:
    return [served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY)]


def renewed() -> list[Observation]:
    return [served("app.example.com", "192.0.2.10", WILDCARD, RENEWED_EXPIRY)]


def run(settings: Settings, tmp_path: Path, observations: list[Observation]) -> Any:
    config = tmp_path / "ticketbridge.toml"
    config.touch()  # the audit trail and the lock live beside the config file
    return reconcile(
        settings,
        config,
        observations,
        dry_run=False,
        force=False,
        max_changes=None,
        now=NOW + dt.timedelta(minutes=1),
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_project_with_required_fields_works_once_they_are_configured(
    flavour: str, tmp_path: Path
) -> None:
    with strict(flavour) as fake:
        settings = settings_for(
            fake, create_fields=CREATE_FIELDS, transition_fields=TRANSITION_FIELDS
        )
        created = run(settings, tmp_path, expiring())
        assert created.report.ok, created.report
        (issue,) = fake.state.issues.values()
        assert issue.custom == {
            "components": [{"name": "TLS"}],
            "customfield_10042": {"value": "Platform"},
        }
        resolved = run(settings, tmp_path, renewed())
        assert resolved.report.ok, resolved.report
        assert issue.is_done and issue.resolution == "Done"
        seen, writes = len(fake.requests_log), fake.write_count()
        again = run(settings, tmp_path, renewed())
        assert again.plan.empty and fake.write_count() == writes
        # Converged: no screen is read (createmeta, transitions) when nothing is to be written.
        later = [r.path for r in fake.requests_log[seen:]]
        assert not [p for p in later if "createmeta" in p or p.endswith("/transitions")], later


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_missing_create_field_stops_the_run_before_any_write(
    flavour: str, tmp_path: Path
) -> None:
    with strict(flavour) as fake:
        settings = settings_for(fake, create_fields={"components": [{"name": "TLS"}]})
        with pytest.raises(ConfigError) as raised:
            run(settings, tmp_path, expiring())
        assert fake.write_count() == 0 and not fake.state.issues
    message = str(raised.value)
    assert "\n" not in message
    assert "Team (customfield_10042) is required" in message
    assert "set jira.create_fields.customfield_10042" in message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_missing_transition_field_stops_the_resolve_and_names_its_key(
    flavour: str, tmp_path: Path
) -> None:
    with strict(flavour) as fake:
        run(settings_for(fake, create_fields=CREATE_FIELDS), tmp_path, expiring())
        (issue,) = fake.state.issues.values()
        writes = fake.write_count()
        with pytest.raises(ConfigError) as raised:
            run(settings_for(fake, create_fields=CREATE_FIELDS), tmp_path, renewed())
        assert fake.write_count() == writes and not issue.is_done
    assert "Root cause (customfield_10050) is required" in str(raised.value)
    assert "jira.transition_fields.Done.customfield_10050" in str(raised.value)


def test_a_value_outside_allowed_values_is_named_with_what_is_allowed(tmp_path: Path) -> None:
    with strict("cloud") as fake:
        fields = {**CREATE_FIELDS, "customfield_10042": {"value": "Marketing"}}
        with pytest.raises(ConfigError) as raised:
            run(settings_for(fake, create_fields=fields), tmp_path, expiring())
        assert fake.write_count() == 0
    message = str(raised.value)
    assert "Team (customfield_10042) does not allow" in message
    assert "Marketing" in message and "Platform, Security" in message


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_doctor_names_each_missing_field_and_the_key_that_satisfies_it(
    flavour: str, tmp_path: Path
) -> None:
    with strict(flavour) as fake:
        fake.seed_issue("Open one")
        results = run_checks(settings_for(fake), tmp_path / "ticketbridge.toml")
        healthy = run_checks(
            settings_for(fake, create_fields=CREATE_FIELDS, transition_fields=TRANSITION_FIELDS),
            tmp_path / "ticketbridge.toml",
        )
        assert fake.write_count() == 0
    failing = [(r.name, r.detail) for r in results if not r.ok]
    assert [name for name, _ in failing] == ["fields: create", "fields: create", "fields: done"]
    details = " ".join(detail for _, detail in failing)
    for named in (
        "Team (customfield_10042)",
        "jira.create_fields.customfield_10042",
        "Component/s (components)",
        "jira.create_fields.components",
        "Root cause (customfield_10050)",
        "jira.transition_fields.Done.customfield_10050",
    ):
        assert named in details
    document = checks_to_json(results)
    assert document["ok"] is False
    assert "jira.create_fields.customfield_10042" in json.dumps(document)
    assert all(result.ok for result in healthy), [r for r in healthy if not r.ok]


def test_a_configured_field_ticketbridge_sets_itself_is_refused_at_load(tmp_path: Path) -> None:
    with strict("cloud") as fake:
        results = run_checks(
            settings_for(fake, create_fields={"duedate": "2027-01-01"}),
            tmp_path / "ticketbridge.toml",
        )
    assert not results[0].ok and "jira.create_fields.duedate" in results[0].detail


# -- which value wins ------------------------------------------------------------------------


def options_for(fake: JiraFake, **changes: Any) -> JiraOptions:
    values: dict[str, Any] = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
        **changes,
    }
    return JiraOptions(**values)


def new_ticket(priority: str | None = None) -> NewTicket:
    cid = secrets.token_hex(8)
    return NewTicket(
        summary="Renew TLS certificate *.example.com",
        description="The certificate for *.example.com expires soon.",
        due_date=dt.date(2026, 11, 14),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid},
        priority=priority,
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_configured_priority_is_a_default_that_escalation_overrides(flavour: str) -> None:
    with JiraFake(flavour=flavour) as fake:
        options = options_for(fake, create_fields={"priority": {"name": "Low"}})
        with JiraTicketSystem(options, sleep=lambda seconds: None) as system:
            plain = system.create(new_ticket(), "Filed.")
            urgent = system.create(new_ticket(priority="Highest"), "Filed.")
        assert fake.state.issues[plain.key].priority == "Low"
        assert fake.state.issues[urgent.key].priority == "Highest"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_configured_resolution_wins_over_the_one_ticketbridge_would_pick(flavour: str) -> None:
    with JiraFake(flavour=flavour) as fake:
        options = options_for(
            fake, transition_fields={"done": {"resolution": {"name": "Won't Do"}}}
        )
        with JiraTicketSystem(options, sleep=lambda seconds: None) as system:
            created = system.create(new_ticket(), "Filed.")
            system.transition(created.key, "done", "Renewed everywhere.")
        assert fake.state.issues[created.key].resolution == "Won't Do"


def test_each_transition_checks_its_screen_before_it_writes() -> None:
    with strict("cloud") as fake:
        with JiraTicketSystem(options_for(fake, create_fields=CREATE_FIELDS)) as system:
            created = system.create(new_ticket(), "Filed.")
            writes = fake.write_count()
            with pytest.raises(JiraPermanentError) as raised:
                system.transition(created.key, "done", "Renewed everywhere.")
        assert fake.write_count() == writes
        assert not fake.state.issues[created.key].is_done
    assert "Root cause (customfield_10050) is required" in str(raised.value)
    assert f"seen on {created.key}" in str(raised.value)


def test_a_transition_field_for_a_transition_ticketbridge_never_makes_is_refused_at_load(
    tmp_path: Path,
) -> None:
    with strict("cloud") as fake:
        results = run_checks(
            settings_for(fake, transition_fields={"Close": {"resolution": {"name": "Done"}}}),
            tmp_path / "ticketbridge.toml",
        )
    assert not results[0].ok and "jira.transition_fields.Close" in results[0].detail


def test_doctor_reads_the_screen_of_the_configured_issue_type(tmp_path: Path) -> None:
    with JiraFake(flavour="cloud", create_screen={("OPS", "Bug"): (TEAM,)}) as fake:
        task = run_checks(settings_for(fake), tmp_path / "ticketbridge.toml")
        bug = run_checks(settings_for(fake, issue_type="Bug"), tmp_path / "ticketbridge.toml")
    assert all(result.ok for result in task)
    (failed,) = [result for result in bug if not result.ok]
    assert failed.detail.startswith("the create screen of OPS/Bug: Team (customfield_10042)")
