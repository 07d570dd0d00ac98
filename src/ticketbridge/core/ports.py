"""The ports: every interface the core needs from the outside world (tickets, on-call), and their values."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ticketbridge.core.model import Ticket
from ticketbridge.errors import PermanentBackendError

if TYPE_CHECKING:
    from ticketbridge.core.plan import PageEvent

# Jira's limits; every backend enforces them, so a plan that works on one works on all.
MAX_SUMMARY = 255
MAX_LABEL = 255
MAX_COMMENT = 32_767
MAX_DESCRIPTION = 32_767


@dataclass(frozen=True, slots=True)
class NewTicket:
    """Everything a create writes, marker labels included, in one request."""

    summary: str
    description: str
    due_date: date
    labels: tuple[str, ...]
    certificate_id: str
    priority: str | None = None
    assignee: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TicketEdit:
    """One edit of one ticket; None / empty means leave that field alone."""

    due_date: date | None = None
    add_labels: tuple[str, ...] = ()
    priority: str | None = None
    assignee: str | None = None
    evidence: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    author: str
    body: str
    created: datetime


TransitionTarget = Literal["done", "reopen"]


class TicketSystem(Protocol):
    """What the reconciler needs from a ticket system, and nothing more."""

    def open_tickets(self) -> Sequence[Ticket]:
        """Open tickets in the adoption scope, plus recently closed ones carrying a marker."""
        ...

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        """Every ticket, open or closed, labelled `tb-<certificate_id>`: read-after-write."""
        ...

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        """Create the ticket with its marker labels, then add the evidence comment."""
        ...

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        """Apply one edit and add one comment."""
        ...

    def add_comment(self, key: str, body: str) -> None: ...

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        """Move to done (with a resolution) or reopen it, with a comment."""
        ...

    def comments(self, key: str) -> Sequence[Comment]: ...


# Optional capabilities: a backend that has one says so by its methods, and the shell asks with
# isinstance() rather than by probing attribute names.


@runtime_checkable
class CompletesTrackedEndpoints(Protocol):
    """A backend whose search cannot return every ticket's tracked endpoints (Jira Data Center)
    and reads them, by key, for the marker tickets whose certificate a run did not observe."""

    def with_tracked_endpoints(
        self, tickets: Sequence[Ticket], observed: Collection[str]
    ) -> list[Ticket]: ...


@runtime_checkable
class ListsAllTickets(Protocol):
    """A backend that can list everything it holds, not only the adoption scope (`tickets --all`)."""

    def all_tickets(self) -> Sequence[Ticket]: ...


@runtime_checkable
class Closeable(Protocol):
    """A backend holding a resource (an HTTP session) to release when the command ends."""

    def close(self) -> None: ...


class Pager(Protocol):
    """The on-call sinks as the executor sees them; sinks deduplicate on `dedup_key`."""

    def send(self, event: PageEvent) -> None:
        """Deliver one trigger or resolve event; raise PagerError when it was not delivered."""
        ...


def valid_summary(summary: str) -> str:
    """A summary as Jira accepts it: one non-empty line of at most 255 characters."""
    if not summary.strip():
        raise PermanentBackendError("summary: must not be empty")
    if len(summary) > MAX_SUMMARY:
        raise PermanentBackendError(f"summary: {len(summary)} characters, at most {MAX_SUMMARY}")
    if "\n" in summary or "\r" in summary:
        raise PermanentBackendError("summary: must be a single line")
    return summary


def valid_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Labels as Jira accepts them (non-empty, no whitespace, at most 255), de-duplicated."""
    for label in labels:
        if not label or any(character.isspace() for character in label):
            raise PermanentBackendError(f"label {label!r}: must be non-empty, without spaces")
        if len(label) > MAX_LABEL:
            raise PermanentBackendError(f"label {label[:40]!r}...: longer than {MAX_LABEL}")
    return tuple(dict.fromkeys(labels))


def valid_comment(body: str) -> str:
    if not body.strip():
        raise PermanentBackendError("comment: body must not be empty")
    if len(body) > MAX_COMMENT:
        raise PermanentBackendError(f"comment: {len(body)} characters, at most {MAX_COMMENT}")
    return body


def valid_field(name: str, value: str) -> str:
    """A short single-line value: a priority, an assignee."""
    if not value.strip() or len(value) > MAX_SUMMARY or "\n" in value:
        raise PermanentBackendError(f"{name} {value[:40]!r}: not a valid value")
    return value
