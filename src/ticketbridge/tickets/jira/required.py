"""What a screen requires that a write would not carry: the fields doctor and a run check first.

Pure: a screen's fields (createmeta, or a transition's `expand=transitions.fields`) against what
ticketbridge sets itself plus the configured `[jira] create_fields` / `transition_fields`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ticketbridge.tickets.jira.failures import odd

__all__ = ["FieldProblem", "ScreenField", "allowed_names", "field_problems", "screen_fields"]

# Jira resolves a reference to an allowed value by its id, its name (components, versions,
# priorities, resolutions), its value (select-list options) or its key (projects).
_REFERENCES: Final = ("id", "name", "value", "key")


@dataclass(frozen=True, slots=True)
class ScreenField:
    """One field of a screen, from Jira's FieldMetadata (FieldCreateMetadata on createmeta):
    `required`, `hasDefaultValue`, and `allowedValues` when the field has a fixed list."""

    field_id: str
    name: str
    required: bool = False
    has_default: bool = False
    allowed: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """Why a write would be refused, naming the field by name and id and the config key that
    would satisfy it."""

    screen: str
    field_id: str
    name: str
    config_key: str
    detail: str
    remedy: str = "set"

    def line(self) -> str:
        return (
            f"{self.screen}: {self.name} ({self.field_id}) {self.detail}; "
            f"{self.remedy} {self.config_key}"
        )


def screen_fields(entries: Any, what: str) -> list[ScreenField]:
    """Screen fields from createmeta's list of FieldCreateMetadata, or a transition's `fields`
    object (FieldMetadata keyed by field id). Entries without an id are skipped."""
    if isinstance(entries, Mapping):
        pairs = [(str(key), value) for key, value in entries.items()]
    elif isinstance(entries, list):
        pairs = [
            (str(item.get("fieldId") or item.get("key") or ""), item)
            for item in entries
            if isinstance(item, Mapping)
        ]
    else:
        raise odd(what, "the fields are neither a list nor an object")
    fields = []
    for field_id, meta in pairs:
        if not field_id or not isinstance(meta, Mapping):
            continue
        allowed = meta.get("allowedValues")
        fields.append(
            ScreenField(
                field_id=field_id,
                name=str(meta.get("name") or field_id),
                required=meta.get("required") is True,
                has_default=meta.get("hasDefaultValue") is True,
                allowed=tuple(v for v in allowed if isinstance(v, Mapping))
                if isinstance(allowed, list)
                else None,
            )
        )
    return fields


def allowed_names(field: ScreenField) -> list[str]:
    """How the allowed values are called, for a message: their name, value or id."""
    return [_label(value) for value in field.allowed or ()]


def field_problems(
    screen: str,
    fields: Sequence[ScreenField],
    supplied: Collection[str],
    configured: Mapping[str, Any],
    config_key: str,
) -> list[FieldProblem]:
    """Every field the screen requires without a default that neither ticketbridge (`supplied`)
    nor the configuration sets, every configured field the screen does not have, and every
    configured value that is not among the field's `allowedValues`, in the screen's order."""
    by_id = {field.field_id: field for field in fields}
    problems = []
    for field in fields:
        key = f"{config_key}.{field.field_id}"
        if field.field_id in configured:
            detail = _value_problem(field, configured[field.field_id])
            if detail is not None:
                problems.append(FieldProblem(screen, field.field_id, field.name, key, detail))
        elif field.required and not field.has_default and field.field_id not in supplied:
            problems.append(
                FieldProblem(
                    screen, field.field_id, field.name, key, "is required and has no default"
                )
            )
    problems += [
        FieldProblem(
            screen,
            field_id,
            field_id,
            f"{config_key}.{field_id}",
            "is configured but not on this screen (Jira refuses it)",
            "remove",
        )
        for field_id in configured
        if field_id not in by_id
    ]
    return problems


def _value_problem(field: ScreenField, value: Any) -> str | None:
    if field.allowed is None:
        return None
    items = value if isinstance(value, list) else [value]
    if field.required and not items:
        return "is required and configured empty"
    for item in items:
        if not any(_refers_to(item, allowed) for allowed in field.allowed):
            offered = ", ".join(allowed_names(field)) or "none"
            return f"does not allow the configured value {_shown(item)} (allowedValues: {offered})"
    return None


def _refers_to(given: Any, allowed: Mapping[str, Any]) -> bool:
    if not isinstance(given, Mapping):
        return False
    return any(
        ref in given and ref in allowed and str(given[ref]) == str(allowed[ref])
        for ref in _REFERENCES
    )


def _label(value: Mapping[str, Any]) -> str:
    for ref in ("name", "value", "key", "id"):
        if value.get(ref) is not None:
            return str(value[ref])
    return "?"


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)[:200]
