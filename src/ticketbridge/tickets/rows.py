"""The embedded store's rows: tickets, labels, comments and history to and from its tables."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ticketbridge.core.model import Ticket
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import PermanentBackendError
from ticketbridge.tickets.markers import conflict, is_marker_conflict, open_holder
from ticketbridge.tickets.workflow import AUTHOR, evidence_endpoints

TICKET_COLUMNS = (
    "t.id, t.key, t.summary, t.status, t.status_category, t.created, t.due_date,"
    " t.priority, t.assignee, t.resolved_at, t.evidence"
)


def format_instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the ticket store needs an aware one")
    # A fixed width (always microseconds) keeps the text sortable, so SQL can compare instants.
    return iso_z(moment, "microseconds")


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def parse_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def ticket(row: tuple[Any, ...], labels: tuple[str, ...]) -> Ticket:
    (
        _id,
        key,
        summary,
        status,
        category,
        created,
        due_date,
        priority,
        assignee,
        resolved_at,
        evidence,
    ) = row
    endpoints = json.loads(evidence).get("endpoints") or ()
    return Ticket(
        key=key,
        summary=summary,
        status=status,
        status_category=category,
        created=parse_instant(created),
        due_date=parse_date(due_date),
        labels=labels,
        priority=priority,
        assignee=assignee,
        resolved_at=None if resolved_at is None else parse_instant(resolved_at),
        tracked_endpoints=tuple(str(endpoint) for endpoint in endpoints),
    )


def add_labels(conn: sqlite3.Connection, ticket_id: int, labels: Sequence[str]) -> list[str]:
    """Append the labels the ticket lacks, keeping first-seen order; returns those added.

    PermanentBackendError, naming the holder, when a marker label would give the ticket the
    same only marker as another open ticket (markers.py)."""
    (last,) = conn.execute(
        "SELECT coalesce(max(position), -1) FROM labels WHERE ticket_id = ?", (ticket_id,)
    ).fetchone()
    have = {label for (label,) in conn.execute(
        "SELECT label FROM labels WHERE ticket_id = ?", (ticket_id,))}  # fmt: skip
    added = [label for label in dict.fromkeys(labels) if label not in have]
    positions = {label: last + 1 + index for index, label in enumerate(added)}
    # Inserted one row at a time, a ticket given several markers at once would have just the
    # first for a moment: put first a marker no other open ticket holds alone.
    (project,) = conn.execute("SELECT project FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    for label in sorted(added, key=lambda label: open_holder(conn, project, label) is not None):
        try:
            conn.execute(
                "INSERT INTO labels (ticket_id, position, label) VALUES (?, ?, ?)",
                (ticket_id, positions[label], label),
            )
        except sqlite3.IntegrityError as exc:
            if is_marker_conflict(exc):
                raise conflict(conn, ticket_id, label, f"add {label}") from exc
            raise
    return added


def insert_comment(conn: sqlite3.Connection, ticket_id: int, body: str, now: str) -> None:
    conn.execute(
        "INSERT INTO comments (ticket_id, author, body, created) VALUES (?, ?, ?, ?)",
        (ticket_id, AUTHOR, body, now),
    )


def record(
    conn: sqlite3.Connection,
    ticket_id: int,
    at: str,
    field: str,
    old: str | None,
    new: str | None,
) -> None:
    conn.execute(
        "INSERT INTO history (ticket_id, at, field, old_value, new_value) VALUES (?, ?, ?, ?, ?)",
        (ticket_id, at, field, old, new),
    )


def touch(conn: sqlite3.Connection, ticket_id: int, now: str) -> None:
    conn.execute("UPDATE tickets SET updated = ? WHERE id = ?", (now, ticket_id))


def unknown(key: str) -> PermanentBackendError:
    return PermanentBackendError(f"no ticket {key}")


def evidence_json(evidence: Mapping[str, Any]) -> str:
    evidence_endpoints(evidence)  # refuses anything but a list of endpoint labels
    try:
        return json.dumps(dict(evidence), sort_keys=True, allow_nan=False, default=json_default)
    except (TypeError, ValueError) as exc:
        raise PermanentBackendError(f"evidence: not representable as JSON: {exc}") from exc


def json_default(value: object) -> object:
    # Evidence is built from domain values: instants and dates travel as ISO text, tuples as lists.
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
