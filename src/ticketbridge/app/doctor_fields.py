"""Doctor's field checks: the create and transition screens against the configured fields."""

from __future__ import annotations

from collections.abc import Iterator

from ticketbridge.core.ports import TransitionTarget
from ticketbridge.errors import BackendError
from ticketbridge.tickets.jira.system import JiraTicketSystem

__all__ = ["Verdict", "screen_results"]

# (check name, ok, detail): doctor.py makes each a CheckResult.
Verdict = tuple[str, bool, str]


def screen_results(system: JiraTicketSystem, context: str) -> Iterator[Verdict]:
    """One verdict per screen, or one failing verdict per field a screen would refuse: each
    names the field by name and id and the config key that would satisfy it."""
    yield from _screen("fields: create", system, None, f"the create screen of {context}")
    for target in ("done", "reopen"):
        sample = _sample(system, target)
        if isinstance(sample, tuple):
            yield sample
            continue
        yield from _screen(
            f"fields: {target}", system, (sample, target), f"the {target} transition of {sample}"
        )


def _sample(system: JiraTicketSystem, target: TransitionTarget) -> str | Verdict:
    name = f"fields: {target}"
    try:
        sample = system.sample_ticket(done=target == "reopen")
    except BackendError as exc:
        return (name, False, str(exc))
    if sample is None:
        state = "closed" if target == "reopen" else "open"
        return (
            name,
            True,
            f"no {state} ticket in the project to inspect; checked again on first use",
        )
    return sample.key


def _screen(
    name: str,
    system: JiraTicketSystem,
    transition: tuple[str, TransitionTarget] | None,
    where: str,
) -> Iterator[Verdict]:
    try:
        problems = system.screen_problems(
            creates=transition is None, transitions=[transition] if transition else []
        )
    except BackendError as exc:
        yield (name, False, str(exc))
        return
    if not problems:
        yield (name, True, f"{where} requires nothing that ticketbridge and the config do not set")
    for problem in problems:
        yield (name, False, problem)
