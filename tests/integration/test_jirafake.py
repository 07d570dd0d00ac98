"""The local Jira, driven by the real `jira` client in both flavours, and its JQL parser."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from support.jirafake import FaultRule, JiraFake, default_transitions, jql
from support.jirafake.adf import adf_to_text, text_to_adf

NOW = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)
TASK = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}}


def make_client(fake: JiraFake, version: str = "2", verify: str | bool = True, **auth: Any) -> JIRA:
    options = {"rest_api_version": version, "verify": verify}
    return JIRA(fake.url, options=options, max_retries=0, **(auth or fake.auth_kwargs()))


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request: pytest.FixtureRequest) -> Iterator[JiraFake]:
    with JiraFake(flavour=request.param, clock=lambda: NOW) as server:
        yield server


@pytest.fixture
def client(fake: JiraFake) -> Iterator[JIRA]:
    jira = make_client(fake)
    yield jira
    jira.close()  # type: ignore[no-untyped-call]


def search_keys(client: JIRA, fake: JiraFake, query: str) -> list[str]:
    """Every matching key, through the search API each flavour really offers."""
    if fake.is_cloud:
        found = client.enhanced_search_issues(query, maxResults=0, fields=["key"])
    else:
        found = client.search_issues(query, maxResults=False, fields="key")
    return [issue.key for issue in found]


def raw(fake: JiraFake, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A request with the fake's credentials, for asserting exact status codes and JSON shapes."""
    headers = {"Content-Type": "application/json"}
    auth = None
    if fake.is_cloud:
        auth = (fake.email, fake.token)
    else:
        headers["Authorization"] = f"Bearer {fake.token}"
    with requests.Session() as session:
        return session.request(
            method, f"{fake.url}{path}", headers=headers, auth=auth, timeout=5, **kwargs
        )


# --- the protocol, through the real client ----------------------------------------------------


def test_server_info_tells_the_flavours_apart(fake: JiraFake, client: JIRA) -> None:
    info = client.server_info()
    assert info["deploymentType"] == ("Cloud" if fake.is_cloud else "Server")
    assert client._is_cloud is fake.is_cloud
    me = client.myself()
    assert ("accountId" in me) is fake.is_cloud
    assert ("name" in me) is not fake.is_cloud


def test_created_issue_is_found_by_search_with_jira_field_shapes(
    fake: JiraFake, client: JIRA
) -> None:
    created = client.create_issue(
        fields={
            **TASK,
            "summary": "Renew *.example.com",
            "labels": ["ticketbridge", "tb-0123456789abcdef"],
            "duedate": "2026-11-14",
            "priority": {"name": "High"},
            "description": "evidence",
        }
    )
    assert search_keys(client, fake, 'project = OPS AND labels = "tb-0123456789abcdef"') == [
        created.key
    ]
    issue = client.issue(created.key)
    assert issue.fields.status.statusCategory.key == "new"
    assert issue.fields.duedate == "2026-11-14"
    assert issue.fields.labels == ["tb-0123456789abcdef", "ticketbridge"]
    assert issue.fields.priority.name == "High"
    assert issue.fields.created == "2026-11-26T21:30:00.000+0000"
    assert issue.fields.resolutiondate is None
    record = fake.state.issues[created.key]
    assert record.duedate == dt.date(2026, 11, 14)
    assert record.description == "evidence"


def test_edit_comment_and_property_round_trip(fake: JiraFake, client: JIRA) -> None:
    issue = client.create_issue(fields={**TASK, "summary": "Renew api.example.com"})
    issue.update(fields={"duedate": "2026-12-01", "labels": ["tb-1"]}, notify=False)
    client.add_comment(issue, "due date moved: *.example.com expires 2026-12-22")
    client.add_issue_property(issue.key, "ticketbridge", {"certificate": "abc"})

    assert client.issue(issue.key).fields.duedate == "2026-12-01"
    assert [c.body for c in client.comments(issue)] == [
        "due date moved: *.example.com expires 2026-12-22"
    ]
    assert client.issue_property(issue.key, "ticketbridge").raw["value"] == {"certificate": "abc"}
    record = fake.state.issues[issue.key]
    assert record.labels == ["tb-1"]
    assert record.history[-1].items[0]["field"] in ("duedate", "labels")
    assert fake.write_count() == 4


def test_assignee_is_an_account_id_on_cloud_and_a_name_on_data_center(
    fake: JiraFake, client: JIRA
) -> None:
    bob = fake.state.users["bob"]
    ref = {"accountId": bob.account_id} if fake.is_cloud else {"name": "bob"}
    issue = client.create_issue(fields={**TASK, "summary": "x", "assignee": ref})
    assignee = client.issue(issue.key).fields.assignee
    assert assignee is not None
    if fake.is_cloud:
        assert assignee.accountId == bob.account_id
        with pytest.raises(JIRAError) as err:
            client.create_issue(fields={**TASK, "summary": "x", "assignee": {"name": "bob"}})
        assert err.value.status_code == 400
    else:
        assert assignee.name == "bob"


def test_cloud_old_search_is_gone() -> None:
    with JiraFake(flavour="cloud") as fake:
        for version in ("2", "3"):
            for method in ("GET", "POST"):
                response = raw(fake, method, f"/rest/api/{version}/search", json={"jql": "x"})
                assert response.status_code == 410
                assert "search/jql" in response.json()["errorMessages"][0]


def test_data_center_has_neither_v3_nor_search_jql() -> None:
    with JiraFake(flavour="datacenter") as fake:
        assert raw(fake, "GET", "/rest/api/3/myself").status_code == 404
        assert raw(fake, "GET", "/rest/api/2/search/jql", params={"jql": "x"}).status_code == 404


def test_v3_wants_atlassian_documents() -> None:
    with JiraFake(flavour="cloud") as fake:
        v3 = make_client(fake, version="3")
        issue = v3.create_issue(fields={**TASK, "summary": "x"})
        with pytest.raises(JIRAError) as err:
            v3.add_comment(issue, "plain string")
        assert err.value.status_code == 400
        assert err.value.response is not None
        assert err.value.response.json() == {
            "errorMessages": ["Comment body is not valid!"],
            "errors": {},
        }
        adf = text_to_adf("line one\nline two\n\nsecond paragraph [~accountid:abc]")
        response = raw(fake, "POST", f"/rest/api/3/issue/{issue.key}/comment", json={"body": adf})
        assert response.status_code == 201
        assert response.json()["body"] == adf
        v2_body = make_client(fake).comments(issue.key)[0].body
        assert v2_body == "line one\nline two\n\nsecond paragraph [~accountid:abc]"

        described = raw(
            fake,
            "POST",
            "/rest/api/3/issue",
            json={"fields": {**TASK, "summary": "x", "description": "plain"}},
        )
        assert described.status_code == 400
        assert "Atlassian Document" in described.json()["errors"]["description"]
        v3.close()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"labels": ["has space"]}, "labels", "contains spaces"),
        ({"labels": ["x" * 256]}, "labels", "255"),
        ({"summary": "s" * 256}, "summary", "less than 255"),
        ({"summary": "two\nlines"}, "summary", "newline"),
        ({"description": "d" * 32768}, "description", "32,767"),
        ({"priority": {"name": "Urgent"}}, "priority", "Priority"),
        ({"issuetype": {"name": "Epic"}}, "issuetype", "issue type"),
        ({"project": {"key": "NOPE"}}, "project", "project"),
        ({"duedate": "14/11/2026"}, "duedate", "parsing date"),
        ({"customfield_99999": "x"}, "customfield_99999", "cannot be set"),
    ],
)
def test_create_validation_answers_like_jira(
    fake: JiraFake, fields: dict[str, Any], field: str, fragment: str
) -> None:
    body = {"fields": {**TASK, "summary": "ok", **fields}}
    response = raw(fake, "POST", "/rest/api/2/issue", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["errorMessages"] == []
    assert fragment in payload["errors"][field]
    assert fake.state.issues == {}


def test_editing_a_missing_issue_is_404_and_status_is_not_editable(fake: JiraFake) -> None:
    missing = raw(fake, "PUT", "/rest/api/2/issue/OPS-99", json={"fields": {"summary": "x"}})
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]
    issue = fake.seed_issue("x")
    direct = raw(
        fake, "PUT", f"/rest/api/2/issue/{issue.key}", json={"fields": {"status": {"name": "Done"}}}
    )
    assert direct.status_code == 400
    assert fake.state.issues[issue.key].status == "To Do"


def test_label_update_operations(fake: JiraFake) -> None:
    issue = fake.seed_issue("x", labels=["a", "b"])
    update = {"update": {"labels": [{"add": "c"}, {"remove": "a"}]}}
    assert raw(fake, "PUT", f"/rest/api/2/issue/{issue.key}", json=update).status_code == 204
    assert fake.state.issues[issue.key].labels == ["b", "c"]
    bad = {"update": {"labels": [{"add": "has space"}]}}
    assert raw(fake, "PUT", f"/rest/api/2/issue/{issue.key}", json=bad).status_code == 400


def test_jql_errors_are_400_never_match_everything(fake: JiraFake, client: JIRA) -> None:
    fake.seed_issue("x")
    for query in (
        "project = OPS AND",
        "project = OPS AND summary ~ *.example.com",
        'labels = "unterminated',
        "foo = bar",
        "project = NOPE",
        "status = Closed",
        "summary = x",
        "project = OPS ORDER BY",
    ):
        with pytest.raises(JIRAError) as err:
            search_keys(client, fake, query)
        assert err.value.status_code == 400, query
        assert err.value.response is not None
        assert err.value.response.json()["errorMessages"], query


def test_cloud_refuses_unbounded_queries() -> None:
    with JiraFake(flavour="cloud") as fake:
        response = raw(fake, "GET", "/rest/api/3/search/jql", params={"jql": "ORDER BY key"})
        assert response.status_code == 400
        assert "Unbounded" in response.json()["errorMessages"][0]


def test_pagination_returns_each_of_250_issues_once(fake: JiraFake, client: JIRA) -> None:
    for n in range(250):
        fake.seed_issue(f"cert {n}", labels=["ticketbridge"])
    fake.seed_issue("closed", labels=["ticketbridge"], status="Done")
    keys = search_keys(client, fake, "labels = ticketbridge AND statusCategory != Done")
    assert len(keys) == 250
    assert len(set(keys)) == 250
    searches = [r for r in fake.requests_log if "/search" in r.path]
    assert len(searches) == 3  # pages of 100


def test_data_center_pages_with_start_at_and_caps_page_size() -> None:
    with JiraFake(flavour="datacenter") as fake:
        for n in range(60):
            fake.seed_issue(f"cert {n}")
        default = raw(fake, "GET", "/rest/api/2/search", params={"jql": "project = OPS"}).json()
        assert (default["maxResults"], default["total"], len(default["issues"])) == (50, 60, 50)
        huge = raw(
            fake, "POST", "/rest/api/2/search", json={"jql": "project = OPS", "maxResults": 5000}
        ).json()
        assert huge["maxResults"] == 1000
        last = raw(
            fake, "GET", "/rest/api/2/search", params={"jql": "project = OPS", "startAt": 50}
        ).json()
        assert len(last["issues"]) == 10


def test_cloud_search_returns_only_requested_fields_and_caps_pages() -> None:
    with JiraFake(flavour="cloud") as fake:
        for n in range(150):
            fake.seed_issue(f"cert {n}")
        bare = raw(fake, "GET", "/rest/api/3/search/jql", params={"jql": "project = OPS"}).json()
        assert set(bare["issues"][0]) == {"id"}
        assert "total" not in bare
        assert bare["isLast"] is False and bare["nextPageToken"]
        body = {"jql": "project = OPS", "fields": ["summary"], "maxResults": 500}
        page = raw(fake, "POST", "/rest/api/3/search/jql", json=body).json()
        assert len(page["issues"]) == 100
        assert set(page["issues"][0]["fields"]) == {"summary"}
        body["nextPageToken"] = page["nextPageToken"]
        rest = raw(fake, "POST", "/rest/api/3/search/jql", json=body).json()
        assert len(rest["issues"]) == 50 and rest["isLast"] is True
        body["jql"] = "project = OPS AND labels = other"
        assert raw(fake, "POST", "/rest/api/3/search/jql", json=body).status_code == 400


def test_cloud_search_is_eventually_consistent_unless_reconciled() -> None:
    with JiraFake(flavour="cloud", search_lag=2) as fake:
        client = make_client(fake)
        issue = client.create_issue(fields={**TASK, "summary": "x", "labels": ["tb-1"]})
        query = "project = OPS AND labels = tb-1"
        assert client.enhanced_search_issues(query, fields=["key"]) == []
        reconciled = client.enhanced_search_issues(
            query, fields=["key"], reconcileIssues=[int(issue.id)]
        )
        assert [i.key for i in reconciled] == [issue.key]
        assert [i.key for i in client.enhanced_search_issues(query, fields=["key"])] == [issue.key]
        client.close()  # type: ignore[no-untyped-call]


def test_transitions_set_and_clear_resolution(fake: JiraFake, client: JIRA) -> None:
    issue = client.create_issue(fields={**TASK, "summary": "x"})
    assert {t["name"] for t in client.transitions(issue)} == {"Start Progress", "Done"}
    client.transition_issue(issue, "Start Progress")
    assert client.issue(issue.key).fields.status.statusCategory.key == "indeterminate"
    client.transition_issue(issue, "Done", fields={"resolution": {"name": "Won't Do"}})
    done = client.issue(issue.key)
    assert done.fields.status.statusCategory.key == "done"
    assert done.fields.resolution is not None
    assert done.fields.resolution.name == "Won't Do"
    assert done.fields.resolutiondate == "2026-11-26T21:30:00.000+0000"
    assert search_keys(client, fake, "resolved >= -30d AND statusCategory = Done") == [issue.key]
    client.transition_issue(issue, "Reopen")
    reopened = fake.state.issues[issue.key]
    assert (reopened.status, reopened.resolution, reopened.resolutiondate) == ("To Do", None, None)
    with pytest.raises(JIRAError) as err:
        client.transition_issue(issue, "41")  # Reopen is not available from To Do
    assert err.value.status_code == 400


def test_transition_names_are_configurable() -> None:
    names = default_transitions(done="Close Issue", reopen="Reopen Issue")
    with JiraFake(flavour="datacenter", transitions=names) as fake:
        client = make_client(fake)
        issue = client.create_issue(fields={**TASK, "summary": "x"})
        with pytest.raises(JIRAError):
            client.transition_issue(issue, "Done")
        client.transition_issue(issue, "Close Issue")
        assert fake.state.issues[issue.key].resolution == "Done"
        client.close()  # type: ignore[no-untyped-call]


def test_bad_or_missing_credentials_are_401(fake: JiraFake) -> None:
    wrong = {"basic_auth": (fake.email, "wrong")} if fake.is_cloud else {"token_auth": "wrong"}
    with pytest.raises(JIRAError) as err:
        make_client(fake, **wrong)
    assert err.value.status_code == 401
    anonymous = requests.get(f"{fake.url}/rest/api/2/myself", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["errorMessages"][0].startswith("You are not authenticated")
    assert requests.get(f"{fake.url}/rest/api/2/serverInfo", timeout=5).status_code == 200


def test_my_permissions(fake: JiraFake, client: JIRA) -> None:
    fake.denied_permissions.add("TRANSITION_ISSUES")
    result: dict[str, Any] = client.my_permissions(
        projectKey="OPS", permissions="BROWSE_PROJECTS,TRANSITION_ISSUES"
    )["permissions"]
    assert result["BROWSE_PROJECTS"]["havePermission"] is True
    assert result["TRANSITION_ISSUES"]["havePermission"] is False
    no_keys = raw(fake, "GET", "/rest/api/2/mypermissions", params={"projectKey": "OPS"})
    assert no_keys.status_code == (400 if fake.is_cloud else 200)


def test_issue_properties_can_be_switched_off() -> None:
    with JiraFake(flavour="datacenter", properties_supported=False) as fake:
        issue = fake.seed_issue("x")
        put = raw(fake, "PUT", f"/rest/api/2/issue/{issue.key}/properties/tb", json={"a": 1})
        assert put.status_code == 404


# --- faults -----------------------------------------------------------------------------------


def test_fault_before_a_create_changes_nothing(fake: JiraFake, client: JIRA) -> None:
    fake.faults.add(FaultRule(effect=503, method="POST", path=r"/issue$"))
    with pytest.raises(JIRAError) as err:
        client.create_issue(fields={**TASK, "summary": "x"})
    assert err.value.status_code == 503
    assert fake.state.issues == {}
    client.create_issue(fields={**TASK, "summary": "x"})  # the rule fired once
    assert len(fake.state.issues) == 1


@pytest.mark.parametrize("effect", [500, "drop"])
def test_fault_after_a_create_leaves_the_issue_behind(
    fake: JiraFake, client: JIRA, effect: int | str
) -> None:
    fake.faults.add(FaultRule(effect=effect, method="POST", path=r"/issue$", when="after"))
    with pytest.raises((JIRAError, requests.ConnectionError)):
        client.create_issue(fields={**TASK, "summary": "x", "labels": ["tb-1"]})
    assert [i.labels for i in fake.state.issues.values()] == [["tb-1"]]
    assert search_keys(client, fake, "labels = tb-1") == ["OPS-1"]
    assert fake.faults.injected[0].when == "after"


def test_429_carries_retry_after_seconds_or_http_date(fake: JiraFake, client: JIRA) -> None:
    reset = dt.datetime(2026, 11, 26, 21, 31, tzinfo=dt.UTC)
    fake.faults.add(FaultRule(effect=429, path="myself", retry_after=7, rate_limit_reset=reset))
    fake.faults.add(FaultRule(effect=429, path="myself", retry_after=reset))
    with pytest.raises(JIRAError) as err:
        client.myself()
    assert err.value.response is not None
    headers = err.value.response.headers
    assert err.value.status_code == 429
    assert headers["Retry-After"] == "7"
    assert headers["X-RateLimit-Reset"] == "2026-11-26T21:31:00.000Z"
    with pytest.raises(JIRAError) as err:
        client.myself()
    assert err.value.response is not None
    assert email.utils.parsedate_to_datetime(err.value.response.headers["Retry-After"]) == reset
    assert client.myself()["displayName"]


def test_nth_call_rule_and_request_log(fake: JiraFake, client: JIRA) -> None:
    fake.faults.add(FaultRule(effect=500, method="GET", path="myself", nth=2))
    client.myself()
    with pytest.raises(JIRAError):
        client.myself()
    client.myself()
    statuses = [r.status for r in fake.requests_log if r.path.endswith("myself")]
    assert statuses == [200, 500, 200]
    fake.reset()
    assert fake.requests_log == [] and fake.faults.rules == []


def test_fault_rate_is_deterministic_for_a_seed() -> None:
    def outcomes(seed: int) -> list[int | None]:
        with JiraFake(flavour="datacenter", seed=seed) as fake:
            fake.faults.set_rate(0.3, effects=(429, 503, "drop"))
            client = make_client(fake)
            for _ in range(30):
                with contextlib.suppress(JIRAError, requests.ConnectionError):
                    client.myself()
            client.close()  # type: ignore[no-untyped-call]
            return [r.status for r in fake.requests_log]

    first = outcomes(7)
    assert first == outcomes(7)
    assert any(s != 200 for s in first) and any(s == 200 for s in first)


# --- seeding, TLS ---------------------------------------------------------------------------


def test_seeded_hand_filed_issue(fake: JiraFake, client: JIRA) -> None:
    filed = dt.datetime(2026, 8, 1, 9, 15, tzinfo=dt.UTC)
    seeded = fake.seed_issue(
        "Renew *.example.com", duedate=dt.date(2027, 9, 1), created=filed, comments=["copied"]
    )
    issue = client.issue(seeded.key)
    assert issue.fields.summary == "Renew *.example.com"
    assert issue.fields.duedate == "2027-09-01"
    assert issue.fields.created == "2026-08-01T09:15:00.000+0000"
    assert [c.body for c in issue.fields.comment.comments] == ["copied"]
    query = 'summary ~ "example.com" AND statusCategory != Done ORDER BY created ASC'
    assert search_keys(client, fake, query) == [seeded.key]


def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with JiraFake(flavour="datacenter", tls=context) as fake:
        assert fake.url.startswith("https://")
        client = make_client(fake, verify=str(ca_path))
        assert client.server_info()["deploymentType"] == "Server"
        client.close()  # type: ignore[no-untyped-call]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{fake.url}/rest/api/2/serverInfo", timeout=5)


# --- JQL, unit level ------------------------------------------------------------------------


def facts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": {"OPS", "10000", "Operations"},
        "key": "OPS-1",
        "id": 10001,
        "labels": ["ticketbridge"],
        "status": {"To Do", "10000"},
        "statuscategory": {"To Do", "new", "2"},
        "priority": {"Medium", "3"},
        "resolution": None,
        "assignee": None,
        "summary": "Renew *.example.com before it expires",
        "text": "Renew *.example.com before it expires",
        "created": NOW - dt.timedelta(days=40),
        "resolutiondate": None,
        "duedate": dt.date(2026, 12, 1),
    }
    return base | overrides


def matches(query: str, **overrides: Any) -> bool:
    parsed = jql.parse(query)
    return jql.evaluate(parsed.where, facts(**overrides), jql.EvalContext(NOW))


def test_jql_string_escapes() -> None:
    tokens = jql.tokenize(r"""summary ~ "say \"hi\" \\ there\n" OR labels = 'it\'s'""")
    strings = [t.value for t in tokens if t.kind == "STRING"]
    assert strings == ['say "hi" \\ there\n', "it's"]
    with pytest.raises(jql.JqlError):  # 's' ends the single-quoted string, then junk
        jql.parse(r"labels = 'it's'")
    assert jql.tokenize(r'labels = "\u0041b"')[2].value == "Ab"


@pytest.mark.parametrize(
    "query",
    [
        r'labels = "bad \x escape"',
        'labels = "line\nbreak"',
        'labels = "unterminated',
        "labels = *.example.com",
        "labels = a+b",
        "labels = and",
        "project = OPS AND",
        "project = OPS OR OR labels = x",
        "(project = OPS",
        "project OPS",
        "nosuchfield = 1",
        "summary = exact",
        "labels ~ x",
        "created >= yesterday",
        "created >= tomorrowish()",
        "project = OPS ORDER BY labels",
        "project = OPS ORDER created",
        "project = OPS labels = x",
        "summary ~ '*.example.com'",
        "project != ",
        "project ! OPS",
        "labels in ticketbridge",
    ],
)
def test_jql_rejects_what_it_does_not_understand(query: str) -> None:
    with pytest.raises(jql.JqlError):
        jql.parse(query)


def test_jql_precedence_and_not() -> None:
    # AND binds tighter than OR: this is `labels = nope OR (project = OPS AND labels = ticketbridge)`.
    assert matches("labels = nope OR project = OPS AND labels = ticketbridge")
    assert not matches("(labels = nope OR project = OPS) AND labels = other")
    assert matches("NOT labels = other AND project = OPS")
    assert not matches("NOT (project = OPS)")
    assert isinstance(jql.parse("labels = x").where, jql.Clause)


def test_jql_field_semantics() -> None:
    assert matches("statusCategory != Done AND statusCategory = new")
    assert matches('status = "to do"')
    assert matches("labels in (a, ticketbridge)")
    assert not matches("labels not in (a, ticketbridge)")
    # Jira's quirk: `!=` on an empty multi-value field does not match.
    assert not matches("labels != x", labels=[])
    assert matches("labels != x OR labels is EMPTY", labels=[])
    assert matches("resolution = Unresolved AND resolution is EMPTY")
    assert matches('summary ~ "renew" AND summary ~ "expir*" AND summary !~ "wildcard"')
    assert matches('summary ~ "\\"before it\\""')
    assert not matches('summary ~ "\\"it before\\""')
    assert matches("created <= -30d AND created > -41d")
    assert matches('duedate >= "2026-12-01" AND duedate < "2026/12/02"')
    with pytest.raises(jql.JqlError):  # `/` is reserved: Jira wants that date quoted
        jql.parse("duedate < 2026/12/02")
    resolved = NOW - dt.timedelta(days=3)
    assert matches("resolved >= -7d", resolutiondate=resolved)
    assert not matches("resolved >= -2d", resolutiondate=resolved)
    assert not matches("resolved >= -30d")  # unresolved never satisfies a comparison
    assert matches("assignee = currentUser()", assignee={"me"}) is False


def test_jql_order_by() -> None:
    parsed = jql.parse("project = OPS ORDER BY created DESC, key")
    assert parsed.order_by == (jql.SortKey("created", True), jql.SortKey("key", False))
    items: list[dict[str, Any]] = [
        {"sort:created": 2, "sort:key": ("OPS", 1)},
        {"sort:created": None, "sort:key": ("OPS", 2)},
        {"sort:created": 3, "sort:key": ("OPS", 3)},
    ]
    ordered = jql.sort_issues(items, parsed.order_by)
    assert [i["sort:key"][1] for i in ordered] == [2, 3, 1]


def test_jql_validation_names_missing_values() -> None:
    query = jql.parse("project = NOPE AND status = Done AND key = OPS-9")
    messages = [
        m for _, m in jql.validate(query, {"project": ["OPS"], "status": ["Done"], "key": []})
    ]
    assert messages == [
        "The value 'NOPE' does not exist for the field 'project'.",
        "An issue with key 'OPS-9' does not exist for field 'key'.",
    ]


def test_adf_round_trip() -> None:
    text = "h\nline\n\n[~accountid:557058:abc] please renew"
    doc = text_to_adf(text)
    assert doc is not None
    assert adf_to_text(doc) == text
