"""The configured fields against the live screens: what a create or a transition would lack.

Doctor and a run that is about to create or transition ask the same questions here, so a
project whose screens require a team, a component or a resolution is named before any write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ticketbridge.core.ports import TransitionTarget
from ticketbridge.tickets.jira.api import JiraApi
from ticketbridge.tickets.jira.failures import JiraPermanentError
from ticketbridge.tickets.jira.mapping import choose_transition, resolution_for
from ticketbridge.tickets.jira.options import CREATE_OWNED, JiraOptions
from ticketbridge.tickets.jira.required import FieldProblem, field_problems, screen_fields
from ticketbridge.tickets.jira.screens import create_screen

__all__ = [
    "create_problems",
    "problem_lines",
    "screen_problems",
    "transition_body_fields",
    "transition_fields",
    "transition_problems",
]


def problem_lines(
    api: JiraApi,
    options: JiraOptions,
    transitions_of: Callable[[str], list[dict[str, Any]]],
    creates: bool,
    transitions: Sequence[tuple[str, TransitionTarget]],
) -> list[str]:
    """`screen_problems`, one line each (what `ChecksScreens.screen_problems` answers)."""
    found = screen_problems(api, options, transitions_of, creates=creates, transitions=transitions)
    return [problem.line() for problem in found]


def transition_fields(
    options: JiraOptions, key: str, target: TransitionTarget, chosen: Mapping[str, Any]
) -> dict[str, Any]:
    """`transition_body_fields`, after checking the screen: Jira would refuse the transition
    (raises JiraPermanentError naming the first field, before anything is sent)."""
    problems = transition_problems(options, key, target, chosen)
    if problems:
        raise JiraPermanentError(problems[0].line())
    return transition_body_fields(options, target, chosen)


def screen_problems(
    api: JiraApi,
    options: JiraOptions,
    transitions_of: Callable[[str], list[dict[str, Any]]],
    *,
    creates: bool,
    transitions: Sequence[tuple[str, TransitionTarget]],
) -> list[FieldProblem]:
    """What the create screen (when `creates`) and the screens of these transitions, on these
    tickets, would refuse. A ticket whose workflow offers no such transition is left to the
    transition itself, which reports it as it always has."""
    problems = create_problems(api, options) if creates else []
    for key, target in transitions:
        wanted = options.done_transition if target == "done" else options.reopen_transition
        chosen = choose_transition(transitions_of(key), target, wanted)
        if chosen is not None:
            problems += transition_problems(options, key, target, chosen[0])
    return problems


def create_problems(api: JiraApi, options: JiraOptions) -> list[FieldProblem]:
    """What the create screen of the configured project and issue type would refuse."""
    fields = create_screen(api, options.project, options.issue_type)
    return field_problems(
        f"the create screen of {options.project}/{options.issue_type}",
        fields,
        # Jira files the caller as the reporter of a create that names none.
        CREATE_OWNED | {"reporter"},
        options.create_defaults,
        "jira.create_fields",
    )


def transition_problems(
    options: JiraOptions, key: str, target: TransitionTarget, chosen: Mapping[str, Any]
) -> list[FieldProblem]:
    """What the screen of transition `chosen` (with `expand=transitions.fields`) would refuse."""
    name = str(chosen.get("name") or chosen.get("id"))
    config_key, configured = options.fields_of_transition(name)
    fields = screen_fields(chosen.get("fields") or {}, f"list the transitions of {key}")
    # ticketbridge picks a resolution itself when closing on a screen that offers some, and
    # sends its comment with the transition when the screen has one.
    supplied = {"comment"}
    if target == "done" and any(f.field_id == "resolution" and f.allowed for f in fields):
        supplied.add("resolution")
    return field_problems(
        f"the {name!r} transition screen (seen on {key})", fields, supplied, configured, config_key
    )


def transition_body_fields(
    options: JiraOptions, target: TransitionTarget, chosen: Mapping[str, Any]
) -> dict[str, Any]:
    """The `fields` of a transition request: the resolution ticketbridge picks, then the
    configured fields of that transition, which win (a configured resolution is a choice; the
    pick is only a guess)."""
    screen = chosen.get("fields") or {}
    fields: dict[str, Any] = {}
    if target == "done" and isinstance(screen, Mapping):
        resolution = screen.get("resolution")
        if isinstance(resolution, Mapping):
            fields["resolution"] = resolution_for(resolution)
    _, configured = options.fields_of_transition(str(chosen.get("name") or ""))
    return {**fields, **configured}
