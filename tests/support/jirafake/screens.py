"""The stricter Jira's screens and people: required fields with allowedValues, assignable users.

Each rule is cited in contract.py (SCREEN_RULES); this module only states them as data and checks
a request's values against them, so the HTTP layer (server.py) keeps a thin hook per write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .state import User

__all__ = [
    "ScreenField",
    "assignable_users",
    "cannot_assign",
    "field_meta",
    "screen_errors",
]


@dataclass(frozen=True)
class ScreenField:
    """One field on a create or transition screen, as createmeta and getTransitions describe it
    (FieldCreateMetadata / FieldMetadata: fieldId, name, required, hasDefaultValue,
    allowedValues). `allowed` entries are the objects Jira lists, e.g. {"id": "10100",
    "value": "Platform"} for a select list or {"id": "10000", "name": "TLS"} for a component;
    an empty tuple allows any value. `multiple`: an array field (Component/s)."""

    field_id: str
    name: str
    required: bool = True
    allowed: tuple[Mapping[str, str], ...] = ()
    has_default: bool = False
    multiple: bool = False


def field_meta(field: ScreenField) -> dict[str, Any]:
    """The field's metadata as createmeta (and `expand=transitions.fields`) answer it."""
    item = "component" if field.field_id == "components" else "option"
    schema: dict[str, Any] = {"type": "array", "items": item} if field.multiple else {"type": item}
    schema |= (
        {"system": field.field_id}
        if not field.field_id.startswith("customfield_")
        else {"custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
              "customId": int(field.field_id.rsplit("_", 1)[1])}
    )  # fmt: skip
    meta: dict[str, Any] = {
        "fieldId": field.field_id,
        "key": field.field_id,
        "name": field.name,
        "required": field.required,
        "hasDefaultValue": field.has_default,
        "operations": ["add", "set", "remove"] if field.multiple else ["set"],
        "schema": schema,
    }
    if field.allowed:
        meta["allowedValues"] = [dict(value) for value in field.allowed]
    return meta


def _matches(given: Any, allowed: Mapping[str, str]) -> bool:
    """Jira resolves a reference by id, or by name (components, versions) or value (options)."""
    if not isinstance(given, dict):
        return False
    return any(
        key in given and key in allowed and str(given[key]) == allowed[key]
        for key in ("id", "name", "value")
    )


def _shown(given: Any) -> str:
    if isinstance(given, dict):
        for key in ("value", "name", "id"):
            if key in given:
                return str(given[key])
    return repr(given)


def _value_error(field: ScreenField, value: Any) -> str | None:
    items = value if field.multiple else [value]
    if field.multiple and not isinstance(value, list):
        return f"{field.name}: data was not an array"
    if field.required and not items:
        return f"{field.name} is required."
    for item in items:
        if not isinstance(item, dict):
            return f"{field.name}: expected Object"
        if field.allowed and not any(_matches(item, entry) for entry in field.allowed):
            return f"Specify a valid value for {field.name}: '{_shown(item)}' is not allowed"
    return None


def screen_errors(
    screen: Iterable[ScreenField], given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of `given` that land on the screen's fields, and the errors Jira answers: a
    required field without a default and without a value is "<name> is required."; a value
    outside `allowedValues` is refused (both keyed by field id, in `errors`)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in screen:
        if field.field_id in given:
            problem = _value_error(field, given[field.field_id])
            if problem is None:
                values[field.field_id] = given[field.field_id]
            else:
                errors[field.field_id] = problem
        elif field.required and not field.has_default:
            errors[field.field_id] = f"{field.name} is required."
    return values, errors


def assignable_users(
    users: Iterable[User], project: str, assignable: Mapping[str, Iterable[str]] | None
) -> list[User]:
    """The users the project's *Assignable User* permission grants: active ones only (an
    inactive Data Center user holds no permission), limited to `assignable[project]` when set."""
    listed = None if assignable is None else set(assignable.get(project, ()))
    return [u for u in users if u.active and (listed is None or u.name in listed)]


def cannot_assign(ident: str) -> dict[str, str]:
    """The field error of a write naming an assignee the project cannot assign."""
    return {"assignee": f"User '{ident}' cannot be assigned issues."}
