"""People who cannot be assigned: an owner Jira would refuse gives an unassigned ticket naming
them and why, never a failed create; doctor says so first. Against the local Jira, which refuses
an assignee without Assignable User in the project, and an inactive Data Center user."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest

from support.builders import NOW, WILDCARD, WILDCARD_EXPIRY, served
from support.jirafake import JiraFake, User
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.jirafake.state import BOT
from ticketbridge.app.config import CertificateSettings, Settings
from ticketbridge.app.doctor import run_checks
from ticketbridge.app.run import reconcile
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

DUE = dt.date(2026, 11, 14)
ALICE = User("557058:alice-0001", "alice", "Alice Admin", "alice@example.com")
BOB = User("557058:bob-0002", "bob", "Bob Builder", "bob@example.com")
DAVE = User("557058:dave-0004", "dave", "Dave Departed", "dave@example.com", active=False)
# Bob exists and user/search finds him, but only the bot and Alice may be assigned in OPS.
ASSIGNABLE = {"OPS": {"ticketbridge", "alice", "dave"}}


def strict(flavour: str) -> JiraFake:
    return JiraFake(flavour=flavour, users=[BOT, ALICE, BOB, DAVE], assignable=ASSIGNABLE)


def options_for(fake: JiraFake) -> JiraOptions:
    return JiraOptions(
        url=fake.url,
        project="OPS",
        email=fake.email,
        token=fake.token,
        requests_per_second=1000,
    )


def new_ticket(assignee: str) -> NewTicket:
    cid = secrets.token_hex(8)
    return NewTicket(
        summary="Renew TLS certificate *.example.com",
        description="The certificate for *.example.com expires soon.",
        due_date=DUE,
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
        assignee=assignee,
    )


def create(fake: JiraFake, assignee: str) -> Any:
    with JiraTicketSystem(options_for(fake), sleep=lambda seconds: None) as system:
        created = system.create(new_ticket(assignee), "Filed.")
        (comment,) = system.comments(created.key)
    return fake.state.issues[created.key], comment.body


CANNOT = [
    ("cloud", "bob@example.com"),  # found by user/search, not assignable in OPS
    ("cloud", "557058:bob-0002"),  # an accountId: no user/search, still not assignable
    ("datacenter", "bob"),  # not assignable in OPS
    ("datacenter", "dave"),  # deactivated: Jira refuses "cannot be assigned issues"
    ("datacenter", "zed"),  # no such user: Jira refuses "User 'zed' does not exist."
]


@pytest.mark.parametrize(("flavour", "who"), CANNOT)
def test_an_owner_who_cannot_be_assigned_gets_an_unassigned_ticket_naming_them(
    flavour: str, who: str
) -> None:
    with strict(flavour) as fake:
        issue, comment = create(fake, who)
    assert issue.assignee is None
    assert issue.properties["ticketbridge"]["intended_assignee"] == who
    assert f"the intended assignee is {who}" in comment
    assert "can be assigned issues in OPS" in comment  # why, not only who


@pytest.mark.parametrize(
    ("flavour", "who"), [("cloud", "alice@example.com"), ("datacenter", "alice")]
)
def test_an_assignable_owner_is_assigned(flavour: str, who: str) -> None:
    with strict(flavour) as fake:
        issue, comment = create(fake, who)
    assert issue.assignee == "alice"
    assert "Not assigned" not in comment


def test_an_edit_to_an_unassignable_owner_still_lands_its_due_date() -> None:
    with strict("datacenter") as fake, JiraTicketSystem(options_for(fake)) as system:
        created = system.create(new_ticket("alice"), "Filed.")
        system.edit(created.key, TicketEdit(due_date=DUE.replace(day=1), assignee="dave"), "Moved.")
        issue = fake.state.issues[created.key]
    assert issue.duedate == DUE.replace(day=1)
    assert issue.assignee == "alice"  # unchanged, never a refused edit
    assert issue.properties["ticketbridge"]["intended_assignee"] == "dave"


@pytest.mark.parametrize(
    ("flavour", "alice", "dave"),
    [("cloud", "alice@example.com", "bob@example.com"), ("datacenter", "alice", "dave")],
)
def test_doctor_names_the_owner_who_cannot_be_assigned(
    flavour: str, alice: str, dave: str, tmp_path: Path
) -> None:
    with strict(flavour) as fake:
        settings = Settings.model_validate(
            {
                "tickets": {"backend": "jira"},
                "jira": {"url": fake.url, "project": "OPS", "email": fake.email,
                         "token": fake.token, "requests_per_second": 1000},
            }
        )  # fmt: skip
        settings = settings.model_copy(
            update={
                "certificates": [
                    CertificateSettings(names=["a.example.com"], assignee=alice),
                    CertificateSettings(names=["b.example.com"], assignee=dave),
                ]
            }
        )
        results = {r.name: r for r in run_checks(settings, tmp_path / "ticketbridge.toml")}
    assert results[f"assignee: {alice}"].ok
    refused = results[f"assignee: {dave}"]
    assert refused.ok is False
    assert f"Jira does not list {dave!r}" in refused.detail and "in OPS" in refused.detail


@pytest.mark.parametrize(("flavour", "who"), [("cloud", "bob@example.com"), ("datacenter", "dave")])
def test_a_run_for_an_unassignable_owner_files_once_and_then_converges(
    flavour: str, who: str, tmp_path: Path
) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.touch()  # the audit trail and the lock live beside it
    with strict(flavour) as fake:
        settings = Settings.model_validate(
            {
                "tickets": {"backend": "jira"},
                "jira": {"url": fake.url, "project": "OPS", "email": fake.email,
                         "token": fake.token, "requests_per_second": 1000},
                "certificates": [{"names": list(WILDCARD), "assignee": who}],
            }
        )  # fmt: skip
        seen = [served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY)]
        first = reconcile(
            settings, config, seen, dry_run=False, force=False, max_changes=None, now=NOW
        )
        assert first.report is not None and first.report.ok, first.report
        (issue,) = fake.state.issues.values()
        assert issue.assignee is None
        assert issue.properties["ticketbridge"]["intended_assignee"] == who
        # Data Center's search returns no properties: the label is what the next run reads.
        assert "ticketbridge-unassigned" in issue.labels
        writes = fake.write_count()
        again = reconcile(
            settings, config, seen, dry_run=False, force=False, max_changes=None, now=NOW
        )
        assert again.plan.empty and fake.write_count() == writes
