"""The ports: every interface the core needs from the outside world (tickets, on-call), and their values."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

# The field limits and validators live in core.fields; these names stay importable from here.
from ticketbridge.core.fields import (
    MAX_COMMENT,
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_PROPERTY,
    MAX_SUMMARY,
    valid_comment,
    valid_description,
    valid_evidence,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.core.model import Ticket

if TYPE_CHECKING:
    from ticketbridge.core.plan import PageEvent


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
class ChecksScreens(Protocol):
    """A backend whose screens may require fields (Jira): it says, read-only and one line per
    field, what creating a ticket and these transitions of these tickets would be refused for,
    so a run can stop before its first write instead of failing every create."""

    def screen_problems(
        self, *, creates: bool, transitions: Sequence[tuple[str, TransitionTarget]]
    ) -> list[str]: ...


@runtime_checkable
class LagsBehindWrites(Protocol):
    """A backend whose search index lags its writes (Jira): told the tickets created recently
    (by key, from the audit trail), it shows them though its search does not yet."""

    @property
    def index_lag(self) -> float:
        """Seconds a write may stay invisible to search (`jira.index_lag_seconds`)."""
        ...

    def remember_written(self, keys: Sequence[str]) -> None: ...


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


__all__ = [
    "MAX_COMMENT",
    "MAX_DESCRIPTION",
    "MAX_LABEL",
    "MAX_PROPERTY",
    "MAX_SUMMARY",
    "Comment",
    "NewTicket",
    "Pager",
    "TicketEdit",
    "TicketSystem",
    "TransitionTarget",
    "valid_comment",
    "valid_description",
    "valid_evidence",
    "valid_field",
    "valid_labels",
    "valid_summary",
]
