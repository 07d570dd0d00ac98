"""The default Jira workflow the embedded store and the in-memory fake both follow.

Statuses and their categories are Jira's default "To Do / In Progress / Done" workflow; a
transition not available from the current status is refused, as a Jira workflow refuses it.
Sharing one copy means a plan that passes against the fake cannot fail on the store's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ticketbridge.core.model import StatusCategory
from ticketbridge.core.ports import TransitionTarget
from ticketbridge.errors import PermanentBackendError

TO_DO: Final = "To Do"
IN_PROGRESS: Final = "In Progress"
DONE: Final = "Done"
STATUSES: Final[Mapping[str, StatusCategory]] = {
    TO_DO: "new",
    IN_PROGRESS: "indeterminate",
    DONE: "done",
}
AUTHOR: Final = "ticketbridge"


def category_of(status: str) -> StatusCategory:
    """The status category of a workflow status; an unknown status is a permanent error."""
    try:
        return STATUSES[status]
    except KeyError:
        raise PermanentBackendError(
            f"unknown status {status!r}; the workflow knows {', '.join(STATUSES)}"
        ) from None


def transition_status(
    key: str, status: str, category: StatusCategory, target: TransitionTarget
) -> str:
    """The status a transition leads to from `status`, or PermanentBackendError if unavailable."""
    if target not in ("done", "reopen"):
        raise PermanentBackendError(f"unknown transition {target!r}")
    is_done = category == "done"
    if target == "done" and is_done:
        raise PermanentBackendError(f"{key} is already {status}")
    if target == "reopen" and not is_done:
        raise PermanentBackendError(f"{key} is not closed ({status})")
    return DONE if target == "done" else TO_DO


def evidence_endpoints(evidence: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The endpoint labels a ticket's evidence tracks; None when the evidence names none."""
    endpoints = evidence.get("endpoints")
    if endpoints is None:
        return None
    if isinstance(endpoints, str | bytes) or not all(isinstance(e, str) for e in endpoints):
        raise PermanentBackendError("evidence: endpoints must be a list of endpoint labels")
    return tuple(endpoints)
