"""Paging through a JQL search, Cloud's /search/jql or Data Center's /search, with its shape checked.

A page without the documented shape is an error, never "no tickets": the caller plans creates
from what a search did not find, so reading a confusing answer as empty files duplicates.
A search that makes no progress, or does not end, stops with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import ByteBudget, JiraApi
from ticketbridge.tickets.jira.failures import odd
from ticketbridge.tickets.jira.mapping import FIELDS, PROPERTY_KEY, IssueJson, issue_json

__all__ = [
    "CLOUD_PAGE",
    "DATACENTER_PAGE",
    "MAX_PAGES",
    "MAX_RECONCILE",
    "MAX_SEARCH_BYTES",
    "MAX_SEARCH_ISSUES",
    "search_issues",
]

# Cloud's /search/jql returns at most 100 issues a page when fields are asked for
# (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search, maxResults);
# Data Center caps maxResults at 1000 by default (jira.search.views.default.max).
CLOUD_PAGE: Final = 100
DATACENTER_PAGE: Final = 1000
# Cloud accepts at most 50 ids in reconcileIssues (same reference, reconcileIssues).
MAX_RECONCILE: Final = 50
# No project ticketbridge serves needs more: 500 pages are 50,000 issues on Cloud. A search
# still going after that is a server that never says "last page".
MAX_PAGES: Final = 500
# What one search may hold, whatever its pages claim: the issues, and the answer bytes they
# came in. A page holding more issues than asked for (maxResults is a maximum in both
# references) is refused on its own.
MAX_SEARCH_ISSUES: Final = 50_000
MAX_SEARCH_BYTES: Final = 128 * 1024 * 1024


def search_issues(
    api: JiraApi,
    query: str,
    *,
    limit: int | None = None,
    reconcile: Callable[[], Sequence[int]] = list,
) -> list[IssueJson]:
    """Every issue the query matches (or the first `limit`), each checked, in Jira's order."""
    if api.cloud:
        return _cloud(api, query, limit, reconcile)
    return _datacenter(api, query, limit)


def _cloud(
    api: JiraApi, query: str, limit: int | None, reconcile: Callable[[], Sequence[int]]
) -> list[IssueJson]:
    found: dict[str, IssueJson] = {}
    token: str | None = None
    seen_tokens: set[str] = set()
    budget = ByteBudget(MAX_SEARCH_BYTES)
    for _ in range(MAX_PAGES):
        size = min(CLOUD_PAGE, limit or CLOUD_PAGE)
        body: dict[str, Any] = {
            "jql": query,
            "fields": list(FIELDS),
            "properties": [PROPERTY_KEY],
            "maxResults": size,
            "reconcileIssues": list(reconcile()),
        }
        if token:
            body["nextPageToken"] = token
        page = api.call(
            "POST", "search/jql", body=body, safety=Safety.READ, what="search", budget=budget
        )
        before = len(found)
        _gather(found, _issues(page), size)
        token = page.get("nextPageToken")
        if token is not None and (not isinstance(token, str) or not token):
            raise odd("search", "nextPageToken is not a string")
        last = page.get("isLast")
        if last is not None and not isinstance(last, bool):
            raise odd("search", "isLast is not a boolean")
        if len(found) >= (limit or len(found) + 1):
            return list(found.values())
        # The last page says isLast: true, or (as some answers do) simply carries no token.
        # "Not the last page" without a way to the next, or a total beyond what was read,
        # contradicts itself: read as "no more tickets" it would plan a duplicate.
        if last is False and token is None:
            raise odd("search", "isLast is false, yet there is no nextPageToken")
        if last is True or token is None:
            _check_total(page, len(found))
            return list(found.values())
        if token in seen_tokens or len(found) == before:
            raise odd("search", "the next page repeats one already read (no progress)")
        seen_tokens.add(token)
    raise odd("search", f"still not at the last page after {MAX_PAGES} pages")


def _datacenter(api: JiraApi, query: str, limit: int | None) -> list[IssueJson]:
    found: dict[str, IssueJson] = {}
    start = 0
    budget = ByteBudget(MAX_SEARCH_BYTES)
    for _ in range(MAX_PAGES):
        size = min(DATACENTER_PAGE, limit or DATACENTER_PAGE)
        # SearchRequestBean declares jql, startAt, maxResults, fields, expand and
        # validateQuery only; Jira DC refuses any other key (see tests/support/jirafake/contract).
        body: dict[str, Any] = {
            "jql": query,
            "startAt": start,
            "maxResults": size,
            "fields": list(FIELDS),
        }
        page = api.call(
            "POST", "search", body=body, safety=Safety.READ, what="search", budget=budget
        )
        issues = _issues(page)
        total = page.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise odd("search", "no total")
        before = len(found)
        _gather(found, issues, size)
        start += len(issues)
        if start >= total or len(found) >= (limit or start + 1):
            return list(found.values())
        if len(found) == before:
            raise odd("search", f"a page at {start} of {total} with nothing new (no progress)")
    raise odd("search", f"still not at the last page after {MAX_PAGES} pages")


def _gather(found: dict[str, IssueJson], issues: list[IssueJson], asked: int) -> None:
    if len(issues) > asked:
        raise odd("search", f"a page of {len(issues):,} issues, more than the {asked} asked for")
    for issue in issues:
        found[issue["key"]] = issue
    if len(found) > MAX_SEARCH_ISSUES:
        raise odd("search", f"more than {MAX_SEARCH_ISSUES:,} issues")


def _check_total(page: dict[str, Any], read: int) -> None:
    """A last page that also states a total (the older Cloud shape) must agree with it."""
    total = page.get("total")
    if total is None:
        return
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise odd("search", "total is not a count")
    if total > read:
        raise odd("search", f"the last page says {total} issues in all, yet {read} were listed")


def _issues(page: Any) -> list[IssueJson]:
    if not isinstance(page, dict):
        raise odd("search", "not a JSON object")
    issues = page.get("issues")
    if not isinstance(issues, list):
        raise odd("search", "no list of issues")
    return [issue_json(raw, "search") for raw in issues]
