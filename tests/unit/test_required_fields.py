"""Which screen fields a write would leave empty or fill wrongly (tickets/jira/required.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ticketbridge.errors import PermanentBackendError
from ticketbridge.tickets.jira.required import ScreenField, field_problems, screen_fields

TEAM = ScreenField(
    "customfield_10042",
    "Team",
    required=True,
    allowed=({"id": "10100", "value": "Platform"}, {"id": "10101", "value": "Security"}),
)
COMPONENTS = ScreenField(
    "components", "Component/s", required=True, allowed=({"id": "7", "name": "TLS"},)
)
DEFAULTED = ScreenField("customfield_1", "Cost centre", required=True, has_default=True)
OPTIONAL = ScreenField("customfield_2", "Notes", allowed=({"id": "1", "value": "x"},))
FREE = ScreenField("customfield_3", "Free text", required=True)


def problems(
    configured: dict[str, Any], *fields: ScreenField, supplied: frozenset[str] = frozenset()
) -> list[str]:
    found = field_problems(
        "the create screen of OPS/Task", fields, supplied, configured, "jira.create_fields"
    )
    return [p.line() for p in found]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ({}, ["the create screen of OPS/Task: Team (customfield_10042) is required and has no default; set jira.create_fields.customfield_10042"]),
        ({"customfield_10042": {"value": "Platform"}}, []),
        ({"customfield_10042": {"id": "10101"}}, []),
        ({"customfield_10042": {"id": 10101}}, []),  # an id given as a number still names it
        ({"customfield_10042": {"value": "Marketing"}}, ['the create screen of OPS/Task: Team (customfield_10042) does not allow the configured value {"value": "Marketing"} (allowedValues: Platform, Security); set jira.create_fields.customfield_10042']),
        ({"customfield_10042": "Platform"}, ['the create screen of OPS/Task: Team (customfield_10042) does not allow the configured value "Platform" (allowedValues: Platform, Security); set jira.create_fields.customfield_10042']),
        ({"customfield_10042": {"name": "Platform"}}, ['the create screen of OPS/Task: Team (customfield_10042) does not allow the configured value {"name": "Platform"} (allowedValues: Platform, Security); set jira.create_fields.customfield_10042']),
        ({"customfield_10042": []}, ["the create screen of OPS/Task: Team (customfield_10042) is required and configured empty; set jira.create_fields.customfield_10042"]),
    ],
)  # fmt: skip
def test_a_required_field_with_allowed_values(
    configured: dict[str, Any], expected: list[str]
) -> None:
    assert problems(configured, TEAM) == expected


def test_every_item_of_an_array_field_must_be_allowed() -> None:
    assert problems({"components": [{"name": "TLS"}]}, COMPONENTS) == []
    (line,) = problems({"components": [{"name": "TLS"}, {"name": "DNS"}]}, COMPONENTS)
    assert 'does not allow the configured value {"name": "DNS"} (allowedValues: TLS)' in line


def test_defaults_supplied_fields_optional_fields_and_free_values_need_nothing() -> None:
    assert problems({}, DEFAULTED, OPTIONAL) == []
    assert problems({}, FREE, supplied=frozenset({"customfield_3"})) == []
    assert problems({"customfield_3": "anything"}, FREE) == []
    assert problems({}, FREE) != []


def test_an_optional_field_configured_outside_its_allowed_values_is_named() -> None:
    (line,) = problems({"customfield_2": {"value": "y"}}, OPTIONAL)
    assert "Notes (customfield_2) does not allow" in line


def test_a_configured_field_that_is_not_on_the_screen_is_named_for_removal() -> None:
    assert problems(
        {"customfield_9": {"value": "x"}}, TEAM, supplied=frozenset({"customfield_10042"})
    ) == [
        "the create screen of OPS/Task: customfield_9 (customfield_9) is configured but not on "
        "this screen (Jira refuses it); remove jira.create_fields.customfield_9"
    ]


def test_screen_fields_read_createmeta_lists_and_transition_objects() -> None:
    listed = [
        {"fieldId": "customfield_10042", "name": "Team", "required": True, "hasDefaultValue": False,
         "allowedValues": [{"id": "1", "value": "Platform"}, "junk"]},
        {"key": "labels", "name": "Labels", "required": False},
        {"name": "no id"},
        "junk",
    ]  # fmt: skip
    assert screen_fields(listed, "read") == [
        ScreenField("customfield_10042", "Team", True, False, ({"id": "1", "value": "Platform"},)),
        ScreenField("labels", "Labels", False, False, None),
    ]
    by_id = {"resolution": {"name": "Resolution", "required": True, "hasDefaultValue": True},
             "comment": "junk"}  # fmt: skip
    assert screen_fields(by_id, "read") == [
        ScreenField("resolution", "Resolution", True, True, None)
    ]
    assert screen_fields({"x": {"required": "yes"}}, "read") == [ScreenField("x", "x")]


def test_screen_fields_refuse_an_answer_that_is_neither_list_nor_object() -> None:
    with pytest.raises(PermanentBackendError, match="read: unexpected answer"):
        screen_fields("fields", "read")
