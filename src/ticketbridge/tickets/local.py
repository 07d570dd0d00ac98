"""The embedded ticket store: a TicketSystem on one SQLite file, for running without Jira."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.core.model import MARKER_PREFIX, Ticket, marker_label
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
from ticketbridge.infra.clock import utcnow
from ticketbridge.tickets.markers import conflict, is_marker_conflict, open_holder
from ticketbridge.tickets.rows import (
    TICKET_COLUMNS,
    add_labels,
    evidence_json,
    format_instant,
    insert_comment,
    parse_instant,
    record,
    ticket,
    touch,
    unknown,
)
from ticketbridge.tickets.sqlite import SCHEMA_VERSION, StoreFile
from ticketbridge.tickets.workflow import (
    STATUSES,
    TO_DO,
    category_of,
    transition_status,
)

__all__ = ["SCHEMA_VERSION", "STATUSES", "Change", "LocalTicketStore"]

RECENTLY_CLOSED = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Change:
    """One field change of one ticket, as `history()` reports it."""

    at: datetime
    field: str
    old_value: str | None
    new_value: str | None


class LocalTicketStore:
    """A TicketSystem kept in one SQLite file: safe for several processes at once.

    Every operation opens its own short-lived connection, so a store object holds no open
    file and needs no closing, and can be shared freely. Reading a file that does not exist
    yet answers "no tickets" without creating it: `plan` writes nothing anywhere.
    """

    def __init__(
        self,
        path: Path,
        project_key: str = "TB",
        clock: Callable[[], datetime] | None = None,
        *,
        busy_timeout: float = 10.0,
        recently_closed: timedelta = RECENTLY_CLOSED,
    ) -> None:
        if not project_key.isalnum() or not project_key.isupper():
            raise ValueError(f"project key {project_key!r}: upper-case letters and digits only")
        self.path = Path(path)
        self.project_key = project_key
        self._clock = clock or utcnow
        self._file = StoreFile(self.path, busy_timeout)
        self._recently_closed = recently_closed

    def __repr__(self) -> str:
        return f"LocalTicketStore({str(self.path)!r}, project_key={self.project_key!r})"

    # -- the TicketSystem protocol ------------------------------------------------------------

    def open_tickets(self) -> Sequence[Ticket]:
        """Open tickets of the project, plus those closed recently that carry a `tb-` marker."""
        cutoff = format_instant(self._now() - self._recently_closed)
        with self._file.reading() as conn:
            if conn is None:
                return []
            return self._select(
                conn,
                "t.project = ? AND (t.status_category != 'done' OR (t.resolved_at >= ?"
                " AND EXISTS (SELECT 1 FROM labels m WHERE m.ticket_id = t.id"
                " AND m.label GLOB ?)))",
                (self.project_key, cutoff, f"{MARKER_PREFIX}*"),
            )

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        with self._file.reading() as conn:
            if conn is None:
                return []
            return self._select(
                conn,
                "t.project = ? AND t.id IN (SELECT ticket_id FROM labels WHERE label = ?)",
                (self.project_key, f"{MARKER_PREFIX}{certificate_id}"),
            )

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        # The ticket, its labels (the marker) and its first comment commit together, so a
        # crash can never leave a ticket that the next run's marker search would miss.
        summary = valid_summary(ticket.summary)
        labels = valid_labels(ticket.labels)
        body = valid_comment(comment)
        valid_description(ticket.description)
        valid_evidence({"certificate_id": ticket.certificate_id, **ticket.evidence})
        evidence = evidence_json({"certificate_id": ticket.certificate_id, **ticket.evidence})
        priority = None if ticket.priority is None else valid_field("priority", ticket.priority)
        assignee = None if ticket.assignee is None else valid_field("assignee", ticket.assignee)
        with self._file.writing() as conn:
            # One open ticket per marker is a rule of the store's schema (markers.py): two
            # runs that each found no ticket (two lock files on one store) cannot both file
            # one. Asked under the write lock, by the index's own definition, the second
            # create becomes an adoption of the first's ticket instead of a refused write.
            holder = open_holder(conn, self.project_key, marker_label(ticket.certificate_id))
            if holder is not None:
                changes = {"due_date": ticket.due_date.isoformat(), "priority": priority,
                           "assignee": assignee, "evidence": evidence}  # fmt: skip
                return self._change(conn, holder, changes, labels, body)
            now = self._now_text()
            ticket_id, key = self._insert_ticket(
                conn,
                summary=summary,
                description=ticket.description,
                status=TO_DO,
                created=now,
                due_date=ticket.due_date,
                priority=priority,
                assignee=assignee,
                resolved_at=None,
                evidence=evidence,
            )
            add_labels(conn, ticket_id, labels)
            record(conn, ticket_id, now, "created", None, key)
            insert_comment(conn, ticket_id, body, now)
            return self._get(conn, key)

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        labels = valid_labels(edit.add_labels)
        body = valid_comment(comment)
        if edit.evidence is not None:
            valid_evidence(edit.evidence)
        evidence = None if edit.evidence is None else evidence_json(edit.evidence)
        priority = None if edit.priority is None else valid_field("priority", edit.priority)
        assignee = None if edit.assignee is None else valid_field("assignee", edit.assignee)
        due_date = None if edit.due_date is None else edit.due_date.isoformat()
        changes = {"due_date": due_date, "priority": priority, "assignee": assignee,
                   "evidence": evidence}  # fmt: skip
        with self._file.writing() as conn:
            return self._change(conn, key, changes, labels, body)

    def _change(
        self,
        conn: sqlite3.Connection,
        key: str,
        changes: Mapping[str, str | None],
        labels: Sequence[str],
        body: str,
    ) -> Ticket:
        """Set the columns in `changes` (None: unchanged), add labels and a comment, in `conn`."""
        ticket_id, before = self._row(conn, key)
        now = self._now_text()
        for column, new in changes.items():
            if new is not None and new != before[column]:
                self._set(conn, ticket_id, now, column, before[column], new)
        for label in add_labels(conn, ticket_id, labels):
            record(conn, ticket_id, now, "labels", None, label)
        insert_comment(conn, ticket_id, body, now)
        touch(conn, ticket_id, now)
        return self._get(conn, key)

    def add_comment(self, key: str, body: str) -> None:
        text = valid_comment(body)
        with self._file.writing() as conn:
            ticket_id, _ = self._row(conn, key)
            now = self._now_text()
            insert_comment(conn, ticket_id, text, now)
            touch(conn, ticket_id, now)

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        body = valid_comment(comment)
        with self._file.writing() as conn:
            ticket_id, before = self._row(conn, key)
            status = transition_status(key, before["status"], before["status_category"], target)
            now = self._now_text()
            self._move(conn, ticket_id, now, before, status)
            insert_comment(conn, ticket_id, body, now)
            return self._get(conn, key)

    def comments(self, key: str) -> Sequence[Comment]:
        with self._file.reading() as conn:
            if conn is None:
                raise unknown(key)
            ticket_id, _ = self._row(conn, key)
            rows = conn.execute(
                "SELECT author, body, created FROM comments WHERE ticket_id = ? ORDER BY id",
                (ticket_id,),
            ).fetchall()
        return [Comment(author, body, parse_instant(created)) for author, body, created in rows]

    # -- helpers for people and tests, beyond the protocol ------------------------------------

    def get(self, key: str) -> Ticket:
        """One ticket by key; PermanentBackendError when there is none."""
        with self._file.reading() as conn:
            if conn is None:
                raise unknown(key)
            return self._get(conn, key)

    def all_tickets(self) -> Sequence[Ticket]:
        """Every ticket of the project, open or closed, oldest first."""
        with self._file.reading() as conn:
            if conn is None:
                return []
            return self._select(conn, "t.project = ?", (self.project_key,))

    def add_manual_ticket(
        self,
        summary: str,
        due_date: date | None,
        *,
        created: datetime | None = None,
        labels: Sequence[str] = (),
        status: str = TO_DO,
        priority: str | None = None,
        assignee: str | None = None,
        description: str = "",
    ) -> Ticket:
        """File a ticket the way a person would: no evidence, no comment, any labels."""
        text = valid_summary(summary)
        checked_labels = valid_labels(tuple(labels))
        category_of(status)
        with self._file.writing() as conn:
            now = self._now_text()
            filed = now if created is None else format_instant(created)
            ticket_id, key = self._insert_ticket(
                conn,
                summary=text,
                description=description,
                status=status,
                created=filed,
                due_date=due_date,
                priority=priority,
                assignee=assignee,
                resolved_at=now if category_of(status) == "done" else None,
                evidence="{}",
            )
            add_labels(conn, ticket_id, checked_labels)
            record(conn, ticket_id, filed, "created", None, key)
            return self._get(conn, key)

    def set_status(self, key: str, status: str) -> Ticket:
        """Move a ticket to any status, as a person dragging it across a board would."""
        category_of(status)
        with self._file.writing() as conn:
            ticket_id, before = self._row(conn, key)
            if before["status"] != status:
                self._move(conn, ticket_id, self._now_text(), before, status)
            return self._get(conn, key)

    def history(self, key: str) -> Sequence[Change]:
        """Every recorded field change of one ticket, oldest first."""
        with self._file.reading() as conn:
            if conn is None:
                raise unknown(key)
            ticket_id, _ = self._row(conn, key)
            rows = conn.execute(
                "SELECT at, field, old_value, new_value FROM history"
                " WHERE ticket_id = ? ORDER BY id",
                (ticket_id,),
            ).fetchall()
        return [Change(parse_instant(at), field, old, new) for at, field, old, new in rows]

    # -- rows -----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock()

    def _now_text(self) -> str:
        return format_instant(self._now())

    def _insert_ticket(
        self,
        conn: sqlite3.Connection,
        *,
        summary: str,
        description: str,
        status: str,
        created: str,
        due_date: date | None,
        priority: str | None,
        assignee: str | None,
        resolved_at: str | None,
        evidence: str,
    ) -> tuple[int, str]:
        # A per-project counter, bumped under the same write lock as the insert: keys are
        # never handed out twice, and never reused, as in Jira.
        (number,) = conn.execute(
            "INSERT INTO key_counters (project, last_number) VALUES (?, 1)"
            " ON CONFLICT (project) DO UPDATE SET last_number = last_number + 1"
            " RETURNING last_number",
            (self.project_key,),
        ).fetchone()
        key = f"{self.project_key}-{number}"
        cursor = conn.execute(
            "INSERT INTO tickets (key, project, number, summary, description, status,"
            " status_category, created, updated, due_date, priority, assignee, resolved_at,"
            " evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                self.project_key,
                number,
                summary,
                description,
                status,
                category_of(status),
                created,
                created,
                None if due_date is None else due_date.isoformat(),
                priority,
                assignee,
                resolved_at,
                evidence,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid, key

    def _row(self, conn: sqlite3.Connection, key: str) -> tuple[int, dict[str, Any]]:
        cursor = conn.execute(
            "SELECT id, status, status_category, due_date, priority, assignee, resolved_at,"
            " evidence FROM tickets WHERE key = ?",
            (key,),
        )
        row = cursor.fetchone()
        if row is None:
            raise unknown(key)
        names = [column[0] for column in cursor.description]
        values = dict(zip(names, row, strict=True))
        return int(values.pop("id")), values

    def _set(
        self,
        conn: sqlite3.Connection,
        ticket_id: int,
        now: str,
        column: str,
        old: str | None,
        new: str | None,
    ) -> None:
        if column not in {"due_date", "priority", "assignee", "evidence"}:
            raise ValueError(column)
        conn.execute(f"UPDATE tickets SET {column} = ? WHERE id = ?", (new, ticket_id))  # noqa: S608
        record(conn, ticket_id, now, column, old, new)

    def _move(
        self,
        conn: sqlite3.Connection,
        ticket_id: int,
        now: str,
        before: Mapping[str, Any],
        status: str,
    ) -> None:
        category = category_of(status)
        if category == "done":
            resolved_at = before["resolved_at"] if before["status_category"] == "done" else now
        else:
            resolved_at = None
        try:
            conn.execute(
                "UPDATE tickets SET status = ?, status_category = ?, resolved_at = ?, updated = ?"
                " WHERE id = ?",
                (status, category, resolved_at, now, ticket_id),
            )
        except sqlite3.IntegrityError as exc:
            # Reopening while a newer ticket for its marker is open would make two.
            if is_marker_conflict(exc):
                raise conflict(conn, ticket_id, None, f"move it to {status}") from exc
            raise
        record(conn, ticket_id, now, "status", before["status"], status)

    def _get(self, conn: sqlite3.Connection, key: str) -> Ticket:
        found = self._select(conn, "t.key = ?", (key,))
        if not found:
            raise unknown(key)
        return found[0]

    def _select(
        self, conn: sqlite3.Connection, where: str, params: tuple[object, ...]
    ) -> list[Ticket]:
        # `where` is always a constant fragment from this module; values travel as parameters.
        tickets_sql = f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE {where} ORDER BY t.id"  # noqa: S608
        labels_sql = (
            "SELECT l.ticket_id, l.label FROM labels l"  # noqa: S608
            f" WHERE l.ticket_id IN (SELECT t.id FROM tickets t WHERE {where})"
            " ORDER BY l.ticket_id, l.position"
        )
        rows = conn.execute(tickets_sql, params).fetchall()
        labels: dict[int, list[str]] = {}
        for ticket_id, label in conn.execute(labels_sql, params):
            labels.setdefault(ticket_id, []).append(label)
        return [ticket(row, tuple(labels.get(row[0], ()))) for row in rows]
