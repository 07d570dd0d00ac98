"""What a project's screens allow: createmeta and editmeta `allowedValues`, read for doctor."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import JiraApi
from ticketbridge.tickets.jira.failures import odd

__all__ = ["create_priorities", "edit_priorities"]

# createmeta pages hold 50 entries by default; a screen with more than 1,000 fields is not one.
_MAX_PAGES: Final = 20


def create_priorities(api: JiraApi, project: str, issue_type: str) -> list[str] | None:
    """The priorities the create screen of `project`/`issue_type` allows; None without the field.

    Cloud and DC 9 both page `GET issue/createmeta/{project}/issuetypes[/{id}]`; Cloud names the
    list `issueTypes`/`fields`, Data Center `values` (see tests/support/jirafake/contract.py).
    """
    base = f"issue/createmeta/{quote(project, safe='')}/issuetypes"
    types = _paged(api, base, ("issueTypes", "values"), "list the issue types")
    wanted = issue_type.casefold()
    match = [t for t in types if str(t.get("name", "")).casefold() == wanted and t.get("id")]
    if not match:
        raise odd("list the issue types", f"no issue type {issue_type!r} in {project}")
    fields = _paged(
        api,
        f"{base}/{quote(str(match[0]['id']), safe='')}",
        ("fields", "values"),
        "read the create screen",
    )
    for field in fields:
        if field.get("fieldId") == "priority" or field.get("key") == "priority":
            return _names(field.get("allowedValues"), "read the create screen")
    return None


def edit_priorities(api: JiraApi, key: str) -> list[str] | None:
    """The priorities the edit screen of issue `key` allows; None without the field."""
    what = f"read the edit screen of {key}"
    answer = api.call("GET", f"issue/{quote(key, safe='')}/editmeta", safety=Safety.READ, what=what)
    fields = answer.get("fields") if isinstance(answer, dict) else None
    if not isinstance(fields, dict):
        raise odd(what, "no fields")
    priority = fields.get("priority")
    if priority is None:
        return None
    if not isinstance(priority, dict):
        raise odd(what, "priority is not an object")
    return _names(priority.get("allowedValues"), what)


def _paged(api: JiraApi, path: str, names: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(_MAX_PAGES):
        page = api.call(
            "GET",
            path,
            params={"startAt": len(found), "maxResults": 50},
            safety=Safety.READ,
            what=what,
        )
        listed = next((page[n] for n in names if isinstance(page, dict) and n in page), None)
        if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
            raise odd(what, "no list of entries")
        found.extend(listed)
        total = page.get("total")
        if (
            page.get("isLast") is True
            or not listed
            or not isinstance(total, int)
            or len(found) >= total
        ):
            return found
    raise odd(what, f"still not at the last page after {_MAX_PAGES} pages")


def _names(values: Any, what: str) -> list[str]:
    if not isinstance(values, list):
        raise odd(what, "priority has no allowedValues")
    return [str(value["name"]) for value in values if isinstance(value, dict) and value.get("name")]
