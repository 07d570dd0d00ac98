"""The cited contract table itself: it judges, it cites, and the local Jira refuses by it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from support.jirafake import JiraFake, RequestRecord
from support.jirafake.contract import ROWS, jackson_refusal


def record(
    flavour: str, method: str, path: str, body: Any = None, query: str = ""
) -> RequestRecord:
    return RequestRecord(method, path, query, 200, body=body, flavour=flavour)


def test_every_row_cites_a_public_source() -> None:
    for row in ROWS:
        assert any(tag in row.source for tag in ("CLOUD3", "CLOUD2", "DC", "JIRAJS")), row


def test_a_request_shape_without_a_row_fails_the_replay() -> None:
    unknown = record("cloud", "GET", "/rest/api/3/issue/OPS-1/worklog")
    assert unknown.contract_violations() == [
        "cloud GET /rest/api/3/issue/OPS-1/worklog: no row in the contract table"
    ]
    # The old search is gone from Cloud: no row, so a regression to it fails CI too.
    assert record("cloud", "POST", "/rest/api/3/search", {"jql": "x"}).contract_violations()


def test_data_center_search_declares_six_keys_only() -> None:
    declared = {"jql": "project = OPS", "startAt": 0, "maxResults": 50, "fields": ["summary"]}
    assert record("datacenter", "POST", "/rest/api/2/search", declared).contract_violations() == []
    for extra in ("properties", "fieldsByKeys", "nextPageToken", "reconcileIssues"):
        body = {**declared, extra: ["ticketbridge"]}
        problems = record("datacenter", "POST", "/rest/api/2/search", body).contract_violations()
        assert problems and extra in problems[0]


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        ({"jql": "project = OPS", "failFast": True}, "failFast"),
        ({"jql": "project = OPS", "reconcileIssues": list(range(51))}, "reconcileIssues"),
        ({"jql": "project = OPS", "reconcileIssues": ["10001"]}, "reconcileIssues"),
        ({"jql": "project = OPS", "maxResults": 5001}, "maxResults"),
        ({"jql": "project = OPS", "startAt": 0}, "startAt"),
    ],
)
def test_cloud_search_refusals_as_documented(body: dict[str, Any], wrong: str) -> None:
    problems = record("cloud", "POST", "/rest/api/3/search/jql", body).contract_violations()
    assert problems and wrong in problems[0]


def test_cloud_mypermissions_requires_permissions_and_dc_does_not() -> None:
    path = "/rest/api/{}/mypermissions"
    assert record("cloud", "GET", path.format(3), query="projectKey=OPS").contract_violations()
    assert not record(
        "datacenter", "GET", path.format(2), query="projectKey=OPS"
    ).contract_violations()


def _post(fake: JiraFake, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{fake.url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_local_data_center_refuses_an_undeclared_search_key_with_jacksons_message() -> None:
    with JiraFake(flavour="datacenter") as fake:
        status, answer = _post(
            fake, "/rest/api/2/search", {"jql": "project = OPS", "properties": ["ticketbridge"]}
        )
    bean = "com.atlassian.jira.rest.v2.search.SearchRequestBean"
    assert status == 400
    assert answer["errorMessages"] == [jackson_refusal("properties", bean)]
    assert answer["errorMessages"][0].startswith(
        f'Unrecognized field "properties" (Class {bean}), not marked as ignorable'
    )
