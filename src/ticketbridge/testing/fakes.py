"""In-memory fakes of ticketbridge's ports, shipped for users' own tests: tickets and pager."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

from ticketbridge.core.model import MARKER_PREFIX, Ticket, marker_label
from ticketbridge.core.plan import PageEvent
from ticketbridge.core.ports import (
    Comment,
    NewTicket,
    TicketEdit,
    TransitionTarget,
    valid_comment,
    valid_description,
    valid_evidence,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.errors import (
    BackendError,
    PagerError,
    PermanentBackendError,
    TransientBackendError,
)
from ticketbridge.infra.clock import utcnow
from ticketbridge.tickets.workflow import (
    AUTHOR,
    TO_DO,
    category_of,
    evidence_endpoints,
    transition_status,
)

__all__ = ["InMemoryPager", "InMemoryTicketSystem", "Write"]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Write:
    """One write attempt, in order: what the fake was asked to do, and whether it failed."""

    operation: str
    key: str | None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class _Fault:
    error: BackendError
    after_write: bool


class InMemoryTicketSystem:
    """A faithful, stateful TicketSystem in memory: same validation and workflow as the store.

    Failures can be injected on the nth write attempt from now, either before the write (the
    ticket system refused) or after it (the write happened but the answer was lost: a crash).
    """

    def __init__(
        self,
        tickets: Iterable[Ticket] = (),
        *,
        project_key: str = "TB",
        clock: Callable[[], datetime] | None = None,
        recently_closed: timedelta = timedelta(days=30),
    ) -> None:
        self.project_key = project_key
        self._clock = clock or utcnow
        self._recently_closed = recently_closed
        self._tickets: dict[str, Ticket] = {}
        self._descriptions: dict[str, str] = {}
        self._comments: dict[str, list[Comment]] = {}
        self._next_number = 1
        self._faults: dict[int, _Fault] = {}
        self.writes: list[Write] = []
        for ticket in tickets:
            self.put(ticket)

    # -- seeding and inspection, beyond the protocol ------------------------------------------

    def put(self, ticket: Ticket) -> Ticket:
        """Store a ticket exactly as given (replacing one with the same key)."""
        self._tickets[ticket.key] = ticket
        self._comments.setdefault(ticket.key, [])
        number = ticket.key.rsplit("-", 1)[-1]
        if number.isdigit():
            self._next_number = max(self._next_number, int(number) + 1)
        return ticket

    def add_manual_ticket(
        self,
        summary: str,
        due_date: date | None = None,
        *,
        created: datetime | None = None,
        labels: Sequence[str] = (),
        status: str = TO_DO,
        priority: str | None = None,
        assignee: str | None = None,
    ) -> Ticket:
        """File a ticket the way a person would: no evidence, no comment, any labels."""
        category = category_of(status)
        now = self._clock()
        return self.put(
            Ticket(
                key=self._new_key(),
                summary=valid_summary(summary),
                status=status,
                status_category=category,
                created=created or now,
                due_date=due_date,
                labels=valid_labels(labels),
                priority=priority,
                assignee=assignee,
                resolved_at=now if category == "done" else None,
            )
        )

    def set_status(self, key: str, status: str) -> Ticket:
        """Move a ticket to any status, as a person dragging it across a board would."""
        category = category_of(status)
        before = self.get(key)
        resolved_at = (before.resolved_at or self._clock()) if category == "done" else None
        return self.put(
            replace(before, status=status, status_category=category, resolved_at=resolved_at)
        )

    def get(self, key: str) -> Ticket:
        try:
            return self._tickets[key]
        except KeyError:
            raise PermanentBackendError(f"no ticket {key}") from None

    def all_tickets(self) -> list[Ticket]:
        return sorted(self._tickets.values(), key=lambda t: (t.created, _number(t.key)))

    def description(self, key: str) -> str:
        self.get(key)
        return self._descriptions.get(key, "")

    def fail_on_write(
        self, nth: int = 1, error: BackendError | None = None, *, after_write: bool = False
    ) -> None:
        """Make the nth write attempt from now fail (TransientBackendError unless given).

        With `after_write`, the write takes effect and only then the error is raised: what a
        client sees when the connection drops after the server committed.
        """
        if nth < 1:
            raise ValueError("nth counts from 1")
        attempts = len(self.writes)
        failure = error or TransientBackendError(f"injected failure on write {attempts + nth}")
        self._faults[attempts + nth] = _Fault(failure, after_write)

    @property
    def successful_writes(self) -> int:
        return sum(1 for write in self.writes if not write.failed)

    # -- the TicketSystem protocol ------------------------------------------------------------

    def open_tickets(self) -> Sequence[Ticket]:
        """Open tickets, plus those closed recently that carry a `tb-` marker."""
        cutoff = self._clock() - self._recently_closed
        return [
            ticket
            for ticket in self.all_tickets()
            if ticket.is_open
            or (
                ticket.resolved_at is not None
                and ticket.resolved_at >= cutoff
                and any(label.startswith(MARKER_PREFIX) for label in ticket.labels)
            )
        ]

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        marker = marker_label(certificate_id)
        return [ticket for ticket in self.all_tickets() if marker in ticket.labels]

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        summary = valid_summary(ticket.summary)
        labels = valid_labels(ticket.labels)
        body = valid_comment(comment)
        valid_description(ticket.description)
        valid_evidence({"certificate_id": ticket.certificate_id, **ticket.evidence})
        priority = None if ticket.priority is None else valid_field("priority", ticket.priority)
        assignee = None if ticket.assignee is None else valid_field("assignee", ticket.assignee)
        endpoints = evidence_endpoints({"certificate_id": ticket.certificate_id, **ticket.evidence})

        def write() -> Ticket:
            now = self._clock()
            created = Ticket(
                key=self._new_key(),
                summary=summary,
                status=TO_DO,
                status_category="new",
                created=now,
                due_date=ticket.due_date,
                labels=labels,
                priority=priority,
                assignee=assignee,
                tracked_endpoints=endpoints if endpoints is not None else (),
            )
            self.put(created)
            self._descriptions[created.key] = ticket.description
            self._comments[created.key].append(Comment(AUTHOR, body, now))
            return created

        return self._write("create", None, write)

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        labels = valid_labels(edit.add_labels)
        body = valid_comment(comment)
        if edit.evidence is not None:
            valid_evidence(edit.evidence)
        priority = None if edit.priority is None else valid_field("priority", edit.priority)
        assignee = None if edit.assignee is None else valid_field("assignee", edit.assignee)
        endpoints = None if edit.evidence is None else evidence_endpoints(edit.evidence)

        def write() -> Ticket:
            before = self.get(key)
            after = replace(
                before,
                due_date=edit.due_date if edit.due_date is not None else before.due_date,
                labels=tuple(dict.fromkeys((*before.labels, *labels))),
                priority=priority if priority is not None else before.priority,
                assignee=assignee if assignee is not None else before.assignee,
                tracked_endpoints=(
                    endpoints if endpoints is not None else before.tracked_endpoints
                ),
            )
            self.put(after)
            self._comments[key].append(Comment(AUTHOR, body, self._clock()))
            return after

        return self._write("edit", key, write)

    def add_comment(self, key: str, body: str) -> None:
        text = valid_comment(body)

        def write() -> None:
            self.get(key)
            self._comments[key].append(Comment(AUTHOR, text, self._clock()))

        self._write("add_comment", key, write)

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        body = valid_comment(comment)

        def write() -> Ticket:
            before = self.get(key)
            status = transition_status(key, before.status, before.status_category, target)
            now = self._clock()
            after = replace(
                before,
                status=status,
                status_category=category_of(status),
                resolved_at=now if target == "done" else None,
            )
            self.put(after)
            self._comments[key].append(Comment(AUTHOR, body, now))
            return after

        return self._write("transition", key, write)

    def comments(self, key: str) -> Sequence[Comment]:
        self.get(key)
        return list(self._comments[key])

    # -- internals ----------------------------------------------------------------------------

    def _write(self, operation: str, key: str | None, write: Callable[[], T]) -> T:
        attempt = len(self.writes) + 1
        fault = self._faults.pop(attempt, None)
        if fault is not None and not fault.after_write:
            self.writes.append(Write(operation, key, failed=True))
            raise fault.error
        try:
            result = write()
        except BackendError:
            self.writes.append(Write(operation, key, failed=True))
            raise
        self.writes.append(Write(operation, key if key else getattr(result, "key", None)))
        if fault is not None:
            raise fault.error
        return result

    def _new_key(self) -> str:
        key = f"{self.project_key}-{self._next_number}"
        self._next_number += 1
        return key


def _number(key: str) -> int:
    number = key.rsplit("-", 1)[-1]
    return int(number) if number.isdigit() else 0


class InMemoryPager:
    """On-call sinks in memory: every event delivered, and which pages are still open."""

    def __init__(self) -> None:
        self.events: list[PageEvent] = []
        self.active: dict[str, PageEvent] = {}
        self._failures_left = 0

    def fail_next(self, count: int = 1) -> None:
        """The next `count` sends raise PagerError and deliver nothing."""
        self._failures_left = count

    def send(self, event: PageEvent) -> None:
        if self._failures_left:
            self._failures_left -= 1
            raise PagerError(f"injected pager failure for {event.dedup_key}")
        self.events.append(event)
        if event.event == "trigger":
            self.active[event.dedup_key] = event
        else:
            self.active.pop(event.dedup_key, None)
