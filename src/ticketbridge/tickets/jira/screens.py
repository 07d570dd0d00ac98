"""What a project's screens hold: createmeta's fields and editmeta's priorities, read for checks."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import JiraApi
from ticketbridge.tickets.jira.failures import odd
from ticketbridge.tickets.jira.required import ScreenField, screen_fields

__all__ = ["create_priorities", "create_screen", "create_screen_meta", "edit_priorities"]

# createmeta pages hold 50 entries by default; a screen with more than 1,000 fields is not one.
_MAX_PAGES: Final = 20


def create_priorities(api: JiraApi, project: str, issue_type: str) -> list[str] | None:
    """The priorities the create screen of `project`/`issue_type` allows; None without the field."""
    for field in create_screen_meta(api, project, issue_type):
        if field.get("fieldId") == "priority" or field.get("key") == "priority":
            return _names(field.get("allowedValues"), "read the create screen")
    return None


def create_screen(api: JiraApi, project: str, issue_type: str) -> list[ScreenField]:
    """The fields of the create screen of `project`/`issue_type`, required ones marked."""
    return screen_fields(create_screen_meta(api, project, issue_type), "read the create screen")


def create_screen_meta(api: JiraApi, project: str, issue_type: str) -> list[dict[str, Any]]:
    """createmeta's FieldCreateMetadata entries for `project`/`issue_type`.

    Cloud (`/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}`) and Data
    Center 8.4+ (`/rest/api/2/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}`; the
    old createmeta was removed in 9.0) both page it; Cloud names the list `issueTypes`/`fields`,
    Data Center `values` (see tests/support/jirafake/contract.py).
    """
    base = f"issue/createmeta/{quote(project, safe='')}/issuetypes"
    types = _paged(api, base, ("issueTypes", "values"), "list the issue types")
    wanted = issue_type.casefold()
    match = [t for t in types if str(t.get("name", "")).casefold() == wanted and t.get("id")]
    if not match:
        raise odd("list the issue types", f"no issue type {issue_type!r} in {project}")
    return _paged(
        api,
        f"{base}/{quote(str(match[0]['id']), safe='')}",
        ("fields", "values"),
        "read the create screen",
    )


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
