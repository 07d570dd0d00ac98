"""The vendor's contract for every Jira endpoint ticketbridge uses, per flavour, each row cited.

The fake refuses what a row forbids (unknown DC body keys with Jackson's own message), and the
replay check (`violations`) holds every logged request to a row: a request shape without a row
is a failure, so a new call cannot reach CI without its contract being written down here.

Kinds: "str", "int", "bool", "csv" (a comma-separated list in a query string), "list[str]",
"list[int]", "object", "json" (any JSON value), "str|list[str]".

Sources (abbreviated in the rows):
  CLOUD3  developer.atlassian.com/cloud/jira/platform/rest/v3 (the Cloud REST reference and its
          OpenAPI document, swagger-v3.v3.json), the named operation
  CLOUD2  the same for REST v2 (developer.atlassian.com/cloud/jira/platform/rest/v2)
  DC      docs.atlassian.com/software/jira/docs/api/REST/9.12.0 (Jira Data Center REST v2)
  JIRAJS  github.com/MrRefactoring/jira.js, src/version3/parameters/*.ts (Cloud) and the
          `server.*` functions (Data Center), e.g.
          mrrefactoring.github.io/jira.js/api/functions/server.searchUsingSearchRequest
  JACKSON Data Center binds bodies with Jackson and refuses unknown keys: `Unrecognized field
          "fieldsByKeys" (Class com.atlassian.jira.rest.v2.search.SearchRequestBean), not marked
          as ignorable` (github.com/floralvikings/jira-connector pull #220, issue #219)

The stricter Jira's rules beyond request shapes (SCREEN_RULES below: what the fake refuses, and
the answer it gives, each with its source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BEHAVIOURS", "ROWS", "SCREEN_RULES", "Row", "find_row", "jackson_refusal", "violations"]

# What the fake (and the hostile peers of tests/integration/test_jira_worse_day.py) do beyond
# request shapes, each from the vendor's own documentation (issue 14).
BEHAVIOURS: Mapping[str, str] = {
    "INDEX_LAG": "developer.atlassian.com/cloud/jira/platform/search-and-reconcile: search/jql "
    "has no read-after-write consistency by default; a write may show stale 'from a few seconds "
    "to minutes'; `reconcileIssues` (at most 50 ids) makes the named issues current. A Data "
    "Center cluster replicates its index between nodes asynchronously; a node 2-5 minutes "
    "behind is a warning (confluence.atlassian.com/jirakb/healthcheck-cluster-index-"
    "replication-738722192.html). GET issue by key reads the database: always current. "
    "JiraFake(search_lag_seconds=...) ages by its injectable clock, on both flavours.",
    "RATE_LIMIT": "developer.atlassian.com/cloud/jira/platform/rate-limiting: a 429 carries "
    "Retry-After, 'how many seconds the app must wait before reissuing the request': a refusal, "
    "not a write that may have landed.",
    "SEARCH_PAGES": "CLOUD3 searchAndReconsileIssuesUsingJql, response SearchAndReconcileResults: "
    "`nextPageToken` is null on the last page, `isLast` says whether it is; `maxResults` is the "
    "most issues a page holds (DC api/2/search too). A page contradicting these is an error.",
    "SCOPED_TOKENS": "support.atlassian.com/atlassian-cloud/kb/401-unauthorized-error-when-"
    "service-account-accesses-jira-or-confluence-api: scoped API tokens (the only kind a service "
    "account has) call https://api.atlassian.com/ex/jira/<cloudId>/{api}, NOT the site URL (401 "
    "there); support.atlassian.com/jira/kb/retrieve-my-atlassian-sites-cloud-id: GET "
    'https://<site>/_edge/tenant_info, without credentials, answers {"cloudId": ...}.',
    "TEXT_LIMIT": "Jira Data Center administration, 'Configuring advanced settings': "
    "jira.text.field.character.limit (default 32,767) bounds text fields and is configurable; Cloud's 32,767 (CLOUD3 createIssue, 'The entered text is "
    "too long') does not say whether it counts the text or the ADF document it receives, so "
    "JiraFake(limit_counts_adf=True) counts the document.",
    "STATUS_CATEGORY": "CLOUD3 getTransitions: IssueTransition.to is StatusDetails, whose "
    "statusCategory is a StatusCategory object (key, name, colorName).",
}

BOTH = ("cloud", "datacenter")


@dataclass(frozen=True)
class Row:
    """One endpoint on one or both flavours: what may be sent, and where that is written."""

    flavours: tuple[str, ...]
    method: str
    path: str  # a regex over the path after /rest/api/{version}/
    source: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] | None = None  # None: no body; {"*": "json"}: any JSON value
    versions: tuple[str, ...] = ("2", "3")
    bean: str = ""  # the DC class Jackson names when it refuses a key
    required_query: tuple[str, ...] = ()
    limits: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # body key -> (min, max)
    max_items: Mapping[str, int] = field(default_factory=dict)  # body list key -> max length


_ISSUE = r"issue/[^/]+"
_UPDATE_BEAN = "com.atlassian.jira.rest.v2.issue.IssueUpdateBean"
_ISSUE_UPDATE = {
    "fields": "object",
    "update": "object",
    "transition": "object",
    "historyMetadata": "object",
    "properties": "json",
}

ROWS: tuple[Row, ...] = (
    Row(BOTH, "GET", "serverInfo", "CLOUD3 getServerInfo; DC api/2/serverInfo",
        query={"doHealthCheck": "bool"}),
    Row(BOTH, "GET", "myself", "CLOUD3 getCurrentUser; DC api/2/myself", query={"expand": "str"}),
    Row(BOTH, "GET", r"project/[^/]+", "CLOUD3 getProject; DC api/2/project/{projectIdOrKey}",
        query={"expand": "str", "properties": "csv"}),
    Row(("cloud",), "GET", "mypermissions", "CLOUD3 getMyPermissions: `permissions` is "
        "required on Cloud",
        query={"projectKey": "str", "projectId": "str", "issueKey": "str", "issueId": "str",
               "permissions": "csv", "projectUuid": "str", "projectConfigurationUuid": "str",
               "commentId": "str"},
        required_query=("permissions",)),
    Row(("datacenter",), "GET", "mypermissions", "DC api/2/mypermissions (projectKey, "
        "projectId, issueKey, issueId, permissions: optional, unknown ones ignored)",
        query={"projectKey": "str", "projectId": "str", "issueKey": "str", "issueId": "str",
               "permissions": "csv"}),
    Row(("cloud",), "GET", "user/search", "CLOUD3 findUsers (query, username, accountId, "
        "startAt, maxResults, property)",
        query={"query": "str", "username": "str", "accountId": "str", "startAt": "int",
               "maxResults": "int", "property": "str"}),
    Row(("datacenter",), "GET", "user/search", "DC api/2/user/search (username required)",
        query={"username": "str", "startAt": "int", "maxResults": "int",
               "includeActive": "bool", "includeInactive": "bool"},
        required_query=("username",)),
    Row(("cloud",), "GET", "user/assignable/search", "CLOUD3 findAssignableUsers (query or "
        "accountId, with project, issueKey or issueId; JIRAJS version3/parameters/"
        "findAssignableUsers.ts): the users who can be assigned in the project",
        query={"query": "str", "sessionId": "str", "username": "str", "accountId": "str",
               "project": "str", "issueKey": "str", "issueId": "str", "startAt": "int",
               "maxResults": "int", "actionDescriptorId": "int", "recommend": "bool"}),
    Row(("datacenter",), "GET", "user/assignable/search", "DC api/2/user/assignable/search "
        "(username, project, issueKey, startAt, maxResults, actionDescriptorId; JIRAJS "
        "server.findAssignableUsers): active users with Assignable User in the project",
        query={"username": "str", "project": "str", "issueKey": "str", "startAt": "int",
               "maxResults": "int", "actionDescriptorId": "int"}),
    Row(BOTH, "GET", r"issue/createmeta/[^/]+/issuetypes(/[^/]+)?", "CLOUD3 "
        "getCreateIssueMetaIssueTypes / getCreateIssueMetaIssueTypeId; DC 9 "
        "api/2/issue/createmeta/{projectIdOrKey}/issuetypes[/{issueTypeId}]",
        query={"startAt": "int", "maxResults": "int"}),
    Row(BOTH, "GET", rf"{_ISSUE}/editmeta", "CLOUD3 getEditIssueMeta; DC api/2/issue/{key}/editmeta",
        query={"overrideScreenSecurity": "bool", "overrideEditableFlag": "bool"}),
    Row(BOTH, "GET", "priority", "CLOUD3 getPriorities (deprecated); DC api/2/priority"),
    Row(BOTH, "GET", _ISSUE, "CLOUD3 getIssue; DC api/2/issue/{issueIdOrKey}: `properties` "
        "is a query parameter of GET issue on both (DC search has none)",
        query={"fields": "csv", "expand": "str", "properties": "csv", "fieldsByKeys": "bool",
               "updateHistory": "bool", "failFast": "bool"}),
    Row(BOTH, "POST", "issue", "CLOUD3 createIssue; DC api/2/issue (IssueUpdateBean)",
        query={"updateHistory": "bool"}, body=_ISSUE_UPDATE, bean=_UPDATE_BEAN),
    Row(BOTH, "PUT", _ISSUE, "CLOUD3 editIssue; DC api/2/issue/{key} PUT (IssueUpdateBean)",
        query={"notifyUsers": "bool", "overrideScreenSecurity": "bool",
               "overrideEditableFlag": "bool", "returnIssue": "bool", "expand": "str"},
        body=_ISSUE_UPDATE, bean=_UPDATE_BEAN),
    Row(BOTH, "GET", rf"{_ISSUE}/comment", "CLOUD3 getComments; DC api/2/issue/{key}/comment",
        query={"startAt": "int", "maxResults": "int", "orderBy": "str", "expand": "str"}),
    Row(BOTH, "POST", rf"{_ISSUE}/comment", "CLOUD3 addComment; DC api/2/issue/{key}/comment "
        "(CommentJsonBean)", query={"expand": "str"},
        body={"body": "json", "visibility": "object", "properties": "json"},
        bean="com.atlassian.jira.rest.v2.issue.CommentJsonBean"),
    Row(BOTH, "GET", rf"{_ISSUE}/transitions", "CLOUD3 getTransitions; DC "
        "api/2/issue/{key}/transitions (expand=transitions.fields shows the screen, with "
        "allowedValues of resolution)",
        query={"expand": "str", "transitionId": "str", "skipRemoteOnlyCondition": "bool",
               "includeUnavailableTransitions": "bool", "sortByOpsBarAndStatus": "bool"}),
    Row(BOTH, "POST", rf"{_ISSUE}/transitions", "CLOUD3 doTransition; DC "
        "api/2/issue/{key}/transitions POST (IssueUpdateBean)",
        body=_ISSUE_UPDATE, bean=_UPDATE_BEAN),
    Row(BOTH, "PUT", rf"{_ISSUE}/properties/[^/]+", "CLOUD3 setIssueProperty; DC "
        "api/2/issue/{key}/properties/{propertyKey}: the body is the value, any JSON",
        body={"*": "json"}),
    Row(BOTH, "DELETE", _ISSUE, "CLOUD3 deleteIssue; DC api/2/issue/{key} DELETE (the live "
        "suite cleans up)", query={"deleteSubtasks": "bool"}),
    Row(("cloud",), "POST", "search/jql", "CLOUD3 searchAndReconsileIssuesUsingJqlPost; JIRAJS "
        "searchForIssuesUsingJqlEnhancedSearchPost.ts (failFast is a query parameter of GET only)",
        body={"jql": "str", "nextPageToken": "str", "maxResults": "int", "fields": "list[str]",
              "expand": "str|list[str]", "properties": "list[str]", "fieldsByKeys": "bool",
              "reconcileIssues": "list[int]"},
        limits={"maxResults": (0, 5000)}, max_items={"reconcileIssues": 50, "properties": 5}),
    Row(("datacenter",), "POST", "search", "DC api/2/search POST (SearchRequestBean: jql, "
        "startAt, maxResults, fields, expand, validateQuery); JIRAJS "
        "server.searchUsingSearchRequest; JACKSON",
        body={"jql": "str", "startAt": "int", "maxResults": "int", "fields": "list[str]",
              "expand": "list[str]", "validateQuery": "bool"},
        versions=("2",), bean="com.atlassian.jira.rest.v2.search.SearchRequestBean",
        limits={"startAt": (0, 2**31 - 1), "maxResults": (0, 2**31 - 1)}),
)  # fmt: skip


# What the stricter Jira refuses beyond request shapes, and how it answers (400 with
# `{"errorMessages": [], "errors": {<field id>: <message>}}`, the ErrorCollection both flavours
# send for a field error: CLOUD3 createIssue "400 ... ErrorCollection"; DC api/2/issue POST).
SCREEN_RULES: tuple[tuple[str, str], ...] = (
    ("required field", "A field the create (or transition) screen marks `required` without "
     "`hasDefaultValue` must be sent: 400, errors {<field id>: \"<name> is required.\"} "
     "(developer.atlassian.com/server/jira/platform/jira-rest-api-example-discovering-meta-data-"
     "for-creating-issues-6291669: createmeta says \"what fields are mandatory\"; answers seen: "
     "{\"customfield_10040\":\"Requestor is required.\"} in github.com/toabctl/jiracli issue "
     "41, \"Scrum Team is required.\" in github.com/pycontribs/jira issue 684)"),
    ("allowedValues", "A value for a field whose metadata lists `allowedValues` must name one of "
     "them by id, name or value (FieldCreateMetadata.allowedValues: \"The list of values allowed "
     "in the field\", mrrefactoring.github.io/jira.js Version2Models.FieldCreateMetadata): 400, "
     "errors {<field id>: ...}; the wording is ours, ticketbridge reads only the field id"),
    ("screen fields", "getTransitions with expand=transitions.fields answers each screen field "
     "as FieldMetadata (required, name, hasDefaultValue, allowedValues), keyed by field id "
     "(CLOUD3 getTransitions; DC api/2/issue/{key}/transitions)"),
    ("assignable", "An assignee without Assignable User in the project: 400, errors "
     "{\"assignee\": \"User '<name>' cannot be assigned issues.\"} (Atlassian's own REST func "
     "test TestIssueResourceAssign.testAssignErrors, com.atlassian.jira.webtests.ztests."
     "bundledplugins2.rest); CLOUD3 findAssignableUsers and DC api/2/user/assignable/search "
     "list only the users who can be assigned"),
    ("inactive users", "Data Center: a deactivated user keeps no permission and is neither "
     "assignable nor listed by user/assignable/search; `active` is false in the User bean "
     "(DC api/2/user: UserBean.active)"),
    ("priority scheme", "A priority the site has but the project's priority scheme lacks: 400, "
     "errors {\"priority\": \"The priority selected is invalid.\"} (the answer Jira gives, "
     "quoted in Atlassian community threads; createmeta/editmeta list the scheme's priorities "
     "as allowedValues, CLOUD3 getCreateIssueMetaIssueTypeId)"),
    ("ADF", "doc.content holds top-level block nodes only; a text node directly under doc is "
     "invalid (developer.atlassian.com/cloud/jira/platform/apis/document/structure: \"block "
     "nodes define the structural elements\"; the JSON schema's doc_node content anyOf lists "
     "block nodes, go.atlassian.com/adf-json-schema): 400, errors {<field>: \"Operation value "
     "must be an Atlassian Document\"}, or errorMessages [\"Comment body is not valid!\"] for a "
     "comment"),
)  # fmt: skip
# Site paths outside /rest/api that ticketbridge calls (method, path suffix), see BEHAVIOURS.
SITE_CALLS = (("GET", "/_edge/tenant_info"),)


def find_row(flavour: str, method: str, path: str, version: str) -> Row | None:
    for row in ROWS:
        if (
            flavour in row.flavours
            and row.method == method
            and version in row.versions
            and re.fullmatch(row.path, path)
        ):
            return row
    return None


def jackson_refusal(key: str, bean: str) -> str:
    """Data Center's 400 message for a body key its bean does not declare (JACKSON above)."""
    return (
        f'Unrecognized field "{key}" (Class {bean}), not marked as ignorable\n'
        f" at [Source: org.apache.catalina.connector.CoyoteInputStream@1f2a3b4c; line: 1, column: 2]"
        f' (through reference chain: {bean}["{key}"])'
    )


def _fits(kind: str, value: Any, *, query: bool) -> bool:
    if query:
        text = str(value)
        return {
            "int": text.lstrip("-").isdigit(),
            "bool": text in ("true", "false"),
        }.get(kind, True)
    return _fits_json(kind, value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _fits_json(kind: str, value: Any) -> bool:
    simple: dict[str, bool] = {
        "str": isinstance(value, str),
        "int": _is_int(value),
        "bool": isinstance(value, bool),
        "object": isinstance(value, dict),
        "json": True,
        "list[str]": _is_strings(value),
        "list[int]": isinstance(value, list) and all(_is_int(item) for item in value),
        "str|list[str]": isinstance(value, str) or _is_strings(value),
    }
    return simple[kind]


def violations(
    flavour: str,
    method: str,
    path: str,
    version: str,
    query: Mapping[str, list[str]],
    body: Any,
) -> list[str]:
    """What is wrong with one request by the table; a request without a row is itself wrong."""
    row = find_row(flavour, method, path, version)
    where = f"{flavour} {method} /rest/api/{version}/{path}"
    if row is None:
        return [f"{where}: no row in the contract table"]
    problems = [f"{where}: query parameter {name!r} is not in the contract ({row.source})"
                for name in query if name not in row.query]  # fmt: skip
    problems += [
        f"{where}: query parameter {name!r} is not {row.query[name]}"
        for name, values in query.items()
        if name in row.query
        for value in values
        if not _fits(row.query[name], value, query=True)
    ]
    problems += [
        f"{where}: query parameter {name!r} is required"
        for name in row.required_query
        if not query.get(name)
    ]
    return problems + _body_violations(row, where, body)


def _body_violations(row: Row, where: str, body: Any) -> list[str]:
    if row.body is None:
        return [] if body is None else [f"{where}: a body where the contract has none"]
    if "*" in row.body:
        return []
    if not isinstance(body, dict):
        return [f"{where}: the body is not a JSON object"]
    problems = []
    for key, value in body.items():
        kind = row.body.get(key)
        if kind is None:
            problems.append(f"{where}: body key {key!r} is not in the contract ({row.source})")
        elif not _fits(kind, value, query=False):
            problems.append(f"{where}: body key {key!r} is not {kind}")
        elif key in row.limits and not row.limits[key][0] <= value <= row.limits[key][1]:
            problems.append(f"{where}: {key} {value} is outside {row.limits[key]}")
        elif key in row.max_items and len(value) > row.max_items[key]:
            problems.append(f"{where}: {key} has more than {row.max_items[key]} items")
    return problems
