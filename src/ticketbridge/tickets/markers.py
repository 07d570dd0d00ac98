"""One open ticket per marker, as a rule of the store's schema: derived column, triggers, index."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path
from typing import Final

from ticketbridge.errors import PermanentBackendError

# A marker as core.model's `Ticket.marker_ids` reads one: `tb-` and 16 lower-case hex digits
# (GLOB is case-sensitive). Frozen here because a shipped migration never changes.
MARKER_GLOB: Final = "tb-" + "[0-9a-f]" * 16


def _sole_marker_of(ticket_id: str) -> str:
    """SQL for a ticket's only marker label, NULL when it has none or several (ambiguous)."""
    return (
        "(SELECT CASE WHEN count(*) = 1 THEN max(label) END FROM labels"  # noqa: S608
        f" WHERE ticket_id = {ticket_id} AND label GLOB '{MARKER_GLOB}')"
    )


def _refuse_duplicate_open_markers(conn: sqlite3.Connection, path: Path) -> None:
    """Before the unique index: a store that already breaks the rule is named, not half-migrated."""
    rows = conn.execute(
        "SELECT project, sole_marker, group_concat(key, ', ') FROM (SELECT project, sole_marker,"
        " key FROM tickets WHERE sole_marker IS NOT NULL AND status_category != 'done'"
        " ORDER BY number) GROUP BY project, sole_marker HAVING count(*) > 1"
        " ORDER BY project, sole_marker"
    ).fetchall()
    if rows:
        found = "; ".join(f"{marker} on {keys}" for _project, marker, keys in rows)
        extra = ", ".join(f"'{key}'" for *_, keys in rows for key in keys.split(", ")[1:])
        # Not run here: the SQL a person can paste to close all but the oldest of each.
        done = "status = 'Done', status_category = 'done'"
        close = f"UPDATE tickets SET {done} WHERE key IN ({extra})"  # noqa: S608
        raise PermanentBackendError(
            f"{path}: cannot upgrade the ticket store to one open ticket per marker: several"
            f" open tickets share a marker ({found}); close all but one of each, e.g. all but"
            f' the oldest: sqlite3 {shlex.quote(str(path))} "{close}", then run again'
        )


# Schema migration 2 (sqlite.MIGRATIONS): `sole_marker` is derived from the labels by triggers,
# so every write that opens, closes, relabels or reopens a ticket, from this code or from any
# SQL, keeps it; the partial unique index then refuses a second open ticket with that marker.
# Tickets with several markers are ambiguous (the planner never writes to one) and stay free.
# Every fragment interpolated below is a constant of this module, never a value.
ONE_OPEN_TICKET_PER_MARKER: Final = (
    "ALTER TABLE tickets ADD COLUMN sole_marker TEXT",
    f"UPDATE tickets SET sole_marker = {_sole_marker_of('tickets.id')}",  # noqa: S608
    _refuse_duplicate_open_markers,
    "CREATE UNIQUE INDEX one_open_ticket_per_marker ON tickets (project, sole_marker)"
    " WHERE sole_marker IS NOT NULL AND status_category != 'done'",
    f"""CREATE TRIGGER sole_marker_after_label_insert AFTER INSERT ON labels
        WHEN NEW.label GLOB '{MARKER_GLOB}' BEGIN
            UPDATE tickets SET sole_marker = {_sole_marker_of("NEW.ticket_id")}
            WHERE id = NEW.ticket_id;
        END""",  # noqa: S608
    f"""CREATE TRIGGER sole_marker_after_label_delete AFTER DELETE ON labels
        WHEN OLD.label GLOB '{MARKER_GLOB}' BEGIN
            UPDATE tickets SET sole_marker = {_sole_marker_of("OLD.ticket_id")}
            WHERE id = OLD.ticket_id;
        END""",  # noqa: S608
    f"""CREATE TRIGGER sole_marker_after_label_update AFTER UPDATE OF ticket_id, label ON labels
        BEGIN
            UPDATE tickets SET sole_marker = {_sole_marker_of("OLD.ticket_id")}
            WHERE id = OLD.ticket_id;
            UPDATE tickets SET sole_marker = {_sole_marker_of("NEW.ticket_id")}
            WHERE id = NEW.ticket_id;
        END""",  # noqa: S608
    # The column is the labels' to set: written directly, it could hide a second open ticket.
    """CREATE TRIGGER sole_marker_not_inserted BEFORE INSERT ON tickets
        WHEN NEW.sole_marker IS NOT NULL BEGIN
            SELECT RAISE(ABORT, 'tickets.sole_marker is derived from labels');
        END""",
    f"""CREATE TRIGGER sole_marker_not_forged BEFORE UPDATE OF sole_marker ON tickets
        WHEN NEW.sole_marker IS NOT {_sole_marker_of("NEW.id")} BEGIN
            SELECT RAISE(ABORT, 'tickets.sole_marker is derived from labels');
        END""",  # noqa: S608
)


def is_marker_conflict(exc: sqlite3.IntegrityError) -> bool:
    """Whether SQLite refused a write for a second open ticket with one marker."""
    return "tickets.project, tickets.sole_marker" in str(exc)


def open_holder(
    conn: sqlite3.Connection, project: str, marker: str, excluding: int | None = None
) -> str | None:
    """The open ticket whose only marker is `marker`, other than `excluding`, if any."""
    row = conn.execute(
        "SELECT key FROM tickets WHERE project = ? AND sole_marker = ?"
        " AND status_category != 'done' AND id IS NOT ? ORDER BY number LIMIT 1",
        (project, marker, excluding),
    ).fetchone()
    return None if row is None else str(row[0])


def conflict(
    conn: sqlite3.Connection, ticket_id: int, marker: str | None, doing: str
) -> PermanentBackendError:
    """The one-line error for a write the index refused: which ticket, which marker, held by whom."""
    key, project, sole = conn.execute(
        "SELECT key, project, sole_marker FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    marker = marker or sole
    holder = None if marker is None else open_holder(conn, project, marker, ticket_id)
    return PermanentBackendError(
        f"{key}: cannot {doing}: {holder or 'another ticket'} is already the open ticket for"
        f" {marker} (one open ticket per marker)"
    )
