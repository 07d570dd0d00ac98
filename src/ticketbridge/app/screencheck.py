"""Before a run's first write: the ticket system's screens against the configured fields."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ticketbridge.core.plan import ActionKind, Plan
from ticketbridge.core.ports import ChecksScreens, TicketSystem, TransitionTarget
from ticketbridge.errors import ConfigError

__all__ = ["check_screens"]

_TRANSITIONS: Final[dict[ActionKind, TransitionTarget]] = {
    ActionKind.RESOLVE: "done",
    ActionKind.REOPEN: "reopen",
}


def check_screens(backend: TicketSystem, plan: Plan, config_path: Path) -> None:
    """Raise ConfigError (exit 2) naming the first field Jira would refuse, before any write.

    Only a plan that creates or transitions asks (a converged run still makes search requests
    only); each transition is checked on the first ticket that makes it, and each ticket's own
    transition checks its screen again before it writes. A configuration error, not a run
    error: the fix is a key in the config file, and re-running unchanged cannot succeed.
    """
    if not isinstance(backend, ChecksScreens):
        return
    creates = any(action.kind is ActionKind.CREATE for action in plan.actions)
    first: dict[TransitionTarget, str] = {}
    for action in plan.actions:
        target = _TRANSITIONS.get(action.kind)
        if target is not None and action.ticket is not None:
            first.setdefault(target, action.ticket)
    if not creates and not first:
        return
    transitions = [(key, target) for target, key in first.items()]
    problems = backend.screen_problems(creates=creates, transitions=transitions)
    if problems:
        more = f" (and {len(problems) - 1} more; `ticketbridge doctor` lists them)"
        raise ConfigError(
            f"{config_path}: {problems[0]}{more if len(problems) > 1 else ''}; nothing was written"
        )
