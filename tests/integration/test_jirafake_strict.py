"""The local Jira's stricter rules (contract.SCREEN_RULES), by their answers: required and
allowed field values on create and transition screens, assignable and inactive users, the
project's priority scheme, and ADF whose `doc` holds a bare text node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from support.jirafake import JiraFake, User
from support.jirafake.contract import SCREEN_RULES
from support.jirafake.screens import ScreenField
from support.jirafake.server import NOT_ADF
from support.jirafake.state import BOT

TEAM = ScreenField("customfield_10042", "Team", allowed=({"id": "10100", "value": "Platform"},))
COMPONENTS = ScreenField(
    "components", "Component/s", multiple=True, allowed=({"id": "10000", "name": "TLS"},)
)
ROOT_CAUSE = ScreenField(
    "customfield_10050", "Root cause", allowed=({"id": "1", "value": "Renewed"},)
)
ALICE = User("557058:alice-0001", "alice", "Alice Admin", "alice@example.com")
BOB = User("557058:bob-0002", "bob", "Bob Builder", "bob@example.com")
DAVE = User("557058:dave-0004", "dave", "Dave Departed", "dave@example.com", active=False)
TASK = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Renew"}
FILLED = {"customfield_10042": {"value": "Platform"}, "components": [{"name": "TLS"}]}


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request: pytest.FixtureRequest) -> Iterator[JiraFake]:
    with JiraFake(
        flavour=request.param,
        users=[BOT, ALICE, BOB, DAVE],
        assignable={"OPS": {"ticketbridge", "alice", "dave"}},
        create_screen=(TEAM, COMPONENTS),
        transition_screens={"Done": (ROOT_CAUSE,)},
        priority_scheme=("High", "Medium", "Low"),
    ) as server:
        yield server


def call(fake: JiraFake, method: str, path: str, version: str = "2", **kwargs: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    auth = (fake.email, fake.token) if fake.is_cloud else None
    if not fake.is_cloud:
        headers["Authorization"] = f"Bearer {fake.token}"
    url = f"{fake.url}/rest/api/{version}/{path}"
    response = requests.request(method, url, headers=headers, auth=auth, timeout=10, **kwargs)
    return response.status_code, (response.json() if response.content else None)


def test_every_rule_names_its_source() -> None:
    assert {name for name, _ in SCREEN_RULES} >= {
        "required field", "allowedValues", "assignable", "inactive users", "priority scheme", "ADF",
    }  # fmt: skip
    assert all(
        any(cited in s for cited in ("atlassian.com", "github", "CLOUD3", "DC api"))
        for _, s in SCREEN_RULES
    )


def test_createmeta_marks_the_required_fields_and_their_allowed_values(fake: JiraFake) -> None:
    status, page = call(fake, "GET", "issue/createmeta/OPS/issuetypes/10001")
    assert status == 200
    listed = {f["fieldId"]: f for f in page["fields" if fake.is_cloud else "values"]}
    team = listed["customfield_10042"]
    assert (team["name"], team["required"], team["hasDefaultValue"]) == ("Team", True, False)
    assert team["allowedValues"] == [{"id": "10100", "value": "Platform"}]


def test_a_create_without_required_fields_is_refused_naming_each(fake: JiraFake) -> None:
    status, body = call(fake, "POST", "issue", json={"fields": TASK})
    assert status == 400 and body["errorMessages"] == []
    assert body["errors"] == {
        "customfield_10042": "Team is required.",
        "components": "Component/s is required.",
    }
    assert not fake.state.issues


def test_a_value_outside_allowed_values_is_refused(fake: JiraFake) -> None:
    fields = {**TASK, **FILLED, "customfield_10042": {"value": "Marketing"}}
    status, body = call(fake, "POST", "issue", json={"fields": fields})
    assert status == 400 and set(body["errors"]) == {"customfield_10042"}
    status, _ = call(fake, "POST", "issue", json={"fields": {**TASK, **FILLED}})
    assert status == 201


def test_a_transition_screen_requires_its_field(fake: JiraFake) -> None:
    issue = fake.seed_issue("Renew")
    status, answer = call(fake, "GET", f"issue/{issue.key}/transitions?expand=transitions.fields")
    (done,) = [t for t in answer["transitions"] if t["name"] == "Done"]
    assert done["fields"]["customfield_10050"]["required"] is True
    request = {"transition": {"id": done["id"]}, "fields": {"resolution": {"name": "Done"}}}
    status, body = call(fake, "POST", f"issue/{issue.key}/transitions", json=request)
    assert status == 400 and body["errors"] == {"customfield_10050": "Root cause is required."}
    request["fields"]["customfield_10050"] = {"value": "Renewed"}
    status, _ = call(fake, "POST", f"issue/{issue.key}/transitions", json=request)
    assert status == 204 and issue.is_done


def test_only_assignable_active_users_are_listed_and_accepted(fake: JiraFake) -> None:
    who = "accountId" if fake.is_cloud else "username"

    def listed(user: User) -> list[str]:
        ident = user.account_id if fake.is_cloud else user.name
        _, found = call(fake, "GET", f"user/assignable/search?project=OPS&{who}={ident}")
        return [u.get("name") or u["accountId"] for u in found]

    assert listed(ALICE) == (["557058:alice-0001"] if fake.is_cloud else ["alice"])
    assert listed(BOB) == []  # exists, not assignable in OPS
    bob = {"accountId": BOB.account_id} if fake.is_cloud else {"name": BOB.name}
    status, body = call(fake, "POST", "issue", json={"fields": {**TASK, **FILLED, "assignee": bob}})
    ident = BOB.account_id if fake.is_cloud else "bob"
    assert status == 400 and body["errors"] == {
        "assignee": f"User '{ident}' cannot be assigned issues."
    }
    if not fake.is_cloud:
        assert listed(DAVE) == []  # deactivated: listed nowhere, refused as assignee
        status, body = call(
            fake, "POST", "issue", json={"fields": {**TASK, **FILLED, "assignee": {"name": "dave"}}}
        )
        assert status == 400 and "cannot be assigned issues" in body["errors"]["assignee"]


def test_a_priority_outside_the_project_scheme_is_refused(fake: JiraFake) -> None:
    fields = {**TASK, **FILLED, "priority": {"name": "Highest"}}
    status, body = call(fake, "POST", "issue", json={"fields": fields})
    assert status == 400
    assert body["errors"] == {"priority": "The priority selected is invalid."}


def test_adf_with_a_text_node_directly_under_doc_is_refused() -> None:
    bare = {"version": 1, "type": "doc", "content": [{"type": "text", "text": "hi"}]}
    with JiraFake(flavour="cloud") as fake:
        status, body = call(
            fake, "POST", "issue", "3", json={"fields": {**TASK, "description": bare}}
        )
        assert status == 400 and body["errors"] == {"description": NOT_ADF}
        issue = fake.seed_issue("Renew")
        status, body = call(fake, "POST", f"issue/{issue.key}/comment", "3", json={"body": bare})
        assert status == 400 and body["errorMessages"] == ["Comment body is not valid!"]


def test_a_create_screen_can_belong_to_one_project_and_issue_type() -> None:
    with JiraFake(flavour="datacenter", create_screen={("OPS", "Bug"): (TEAM,)}) as fake:
        bug = {**TASK, "issuetype": {"name": "Bug"}}
        status, body = call(fake, "POST", "issue", json={"fields": bug})
        assert status == 400 and set(body["errors"]) == {"customfield_10042"}
        status, _ = call(fake, "POST", "issue", json={"fields": TASK})
        assert status == 201
        _, task_screen = call(fake, "GET", "issue/createmeta/OPS/issuetypes/10001")
        _, bug_screen = call(fake, "GET", "issue/createmeta/OPS/issuetypes/10002")
    assert "customfield_10042" not in {f["fieldId"] for f in task_screen["values"]}
    assert "customfield_10042" in {f["fieldId"] for f in bug_screen["values"]}
