"""One open ticket per marker is a rule of the embedded store's schema (issue 14), not of a lock.

A create that would break it becomes an adoption; a reopen or relabel fails in one line naming
the ticket that holds the marker; SQL from outside ticketbridge is refused by the database; an
old store is migrated, or refused with the tickets that already break the rule.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import PermanentBackendError
from ticketbridge.tickets.local import SCHEMA_VERSION, LocalTicketStore
from ticketbridge.tickets.sqlite import APPLICATION_ID, MIGRATIONS

CID = "0123456789abcdef"
OTHER = "fedcba9876543210"
CIDS = [f"{n:016x}" for n in range(1, 21)]


def new_ticket(cid: str = CID) -> NewTicket:
    return NewTicket(
        summary=f"Renew {cid}.example.com",
        description="Expires soon.",
        due_date=dt.date(2026, 12, 1),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
    )


@contextmanager
def raw(db: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        yield conn


def open_per_marker(db: Path) -> Counter[str]:
    tickets = LocalTicketStore(db).all_tickets()
    return Counter(cid for t in tickets if t.is_open for cid in t.marker_ids)


def closed_tickets(store: LocalTicketStore, cids: list[str]) -> dict[str, str]:
    """One ticket per certificate, filed and then closed: each a candidate for a reopen."""
    keys = {}
    for cid in cids:
        key = store.create(new_ticket(cid), "Filed.").key
        store.transition(key, "done", "Renewed.")
        keys[cid] = key
    return keys


# -- reopen and relabel ---------------------------------------------------------------------


def test_reopening_a_ticket_whose_marker_is_open_elsewhere_fails_in_one_line(
    tmp_path: Path,
) -> None:
    store = LocalTicketStore(tmp_path / "t.db")
    old = closed_tickets(store, [CID])[CID]
    new = store.create(new_ticket(), "Expiring again.")
    assert new.key != old
    reopens: list[Callable[[], object]] = [
        lambda: store.transition(old, "reopen", "Still expiring."),
        lambda: store.set_status(old, "In Progress"),
    ]
    for reopen in reopens:
        with pytest.raises(PermanentBackendError) as info:
            reopen()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{old}: cannot move it to ")
        assert f"{new.key} is already the open ticket for {marker_label(CID)}" in message
    assert open_per_marker(tmp_path / "t.db") == Counter({CID: 1})
    assert store.get(old).status == "Done"
    assert [c.body for c in store.comments(old)] == ["Filed.", "Renewed."]  # nothing half-done


def test_adding_a_marker_held_by_another_open_ticket_fails_in_one_line(tmp_path: Path) -> None:
    store = LocalTicketStore(tmp_path / "t.db")
    holder = store.create(new_ticket(), "Filed.")
    manual = store.add_manual_ticket("Renew it by hand", None, labels=("ops",))
    with pytest.raises(PermanentBackendError, match=rf"^TB-\d+: cannot add tb-{CID}: TB-1 is "):
        store.add_manual_ticket("Another", None, labels=(marker_label(CID),))
    with pytest.raises(PermanentBackendError) as info:
        store.edit(manual.key, TicketEdit(add_labels=(marker_label(CID),)), "Adopting.")
    assert f"{holder.key} is already the open ticket for tb-{CID}" in str(info.value)
    assert store.get(manual.key).labels == ("ops",)
    # A ticket naming two certificates is ambiguous, and may name one that is open elsewhere,
    # whichever order its labels come in.
    both = store.add_manual_ticket(
        "Two certificates", None, labels=(marker_label(CID), marker_label(OTHER))
    )
    assert both.labels == (marker_label(CID), marker_label(OTHER))
    assert store.create(new_ticket(OTHER), "Filed.").key not in (both.key, holder.key)


def test_a_create_after_a_reopen_adopts_the_reopened_ticket(tmp_path: Path) -> None:
    store = LocalTicketStore(tmp_path / "t.db")
    old = closed_tickets(store, [CID])[CID]
    store.transition(old, "reopen", "Still expiring.")
    assert store.create(new_ticket(), "Filed again.").key == old
    assert len(store.all_tickets()) == 1


# -- a reopen racing a create ---------------------------------------------------------------


def check_race(keys: dict[str, str], reopened: dict[str, str], created: dict[str, str]) -> None:
    """Each certificate ends with one open ticket: the reopen won and the create adopted it, or
    the create filed a new one and the reopen was refused naming it."""
    for cid, key in keys.items():
        if reopened[cid] == "ok":
            assert created[cid] == key, cid
        else:
            assert created[cid] != key, cid
            assert f"{created[cid]} is already the open ticket for" in reopened[cid], cid


def test_a_reopen_racing_a_create_leaves_one_open_ticket_threads(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    keys = closed_tickets(LocalTicketStore(db), CIDS)
    reopened: dict[str, str] = {}
    created: dict[str, str] = {}
    start = threading.Barrier(2)

    def reopen() -> None:
        store = LocalTicketStore(db)
        start.wait()
        for cid in CIDS:
            try:
                store.transition(keys[cid], "reopen", "Still expiring.")
                reopened[cid] = "ok"
            except PermanentBackendError as exc:
                reopened[cid] = str(exc)

    def create() -> None:
        store = LocalTicketStore(db)
        start.wait()
        for cid in CIDS:
            created[cid] = store.create(new_ticket(cid), "Expiring again.").key

    threads = [threading.Thread(target=reopen), threading.Thread(target=create)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert open_per_marker(db) == Counter(dict.fromkeys(CIDS, 1))
    check_race(keys, reopened, created)


RACER = """
import json, sys, time
from datetime import date
from pathlib import Path
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import PermanentBackendError
from ticketbridge.tickets.local import LocalTicketStore

role, db, keys = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
store = LocalTicketStore(db)
(db.parent / f"{role}.ready").touch()
while not (db.parent / "go").exists():
    time.sleep(0.001)
out = {}
for cid, key in keys.items():
    if role == "reopen":
        try:
            store.transition(key, "reopen", "Still expiring.")
            out[cid] = "ok"
        except PermanentBackendError as exc:
            out[cid] = str(exc)
    else:
        ticket = NewTicket(summary="Renew", description="", due_date=date(2026, 12, 1),
            labels=("ticketbridge", "tb-" + cid), certificate_id=cid,
            evidence={"certificate_id": cid, "endpoints": []})
        out[cid] = store.create(ticket, "Expiring again.").key
print(json.dumps(out))
"""


def test_a_reopen_racing_a_create_leaves_one_open_ticket_processes(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    keys = closed_tickets(LocalTicketStore(db), CIDS)
    racers = {
        role: subprocess.Popen(
            [sys.executable, "-c", RACER, role, str(db), json.dumps(keys)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("reopen", "create")
    }
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{role}.ready").exists() for role in racers):
        assert time.monotonic() < deadline, "racers never started"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = {}
    for role, racer in racers.items():
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        results[role] = json.loads(out)
    assert open_per_marker(db) == Counter(dict.fromkeys(CIDS, 1))
    check_race(keys, results["reopen"], results["create"])


# -- the database itself refuses a second open ticket ---------------------------------------


def test_sql_from_outside_cannot_make_a_second_open_ticket_for_a_marker(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = LocalTicketStore(db)
    holder = store.create(new_ticket(), "Filed.")
    old = closed_tickets(store, [OTHER])[OTHER]
    store.edit(old, TicketEdit(add_labels=(marker_label(CID),)), "Names both now.")
    unmarked = store.add_manual_ticket("Unmarked", None)
    with raw(db) as conn:
        (unmarked_id,) = conn.execute(
            "SELECT id FROM tickets WHERE key = ?", (unmarked.key,)
        ).fetchone()
        attempts = [
            ("INSERT INTO labels (ticket_id, position, label) VALUES (?, 0, ?)",
             (unmarked_id, marker_label(CID))),
            ("UPDATE labels SET label = ? WHERE label = ? AND ticket_id != "
             "(SELECT id FROM tickets WHERE key = ?)", (marker_label(CID), MARKER_LABEL, holder.key)),
            ("UPDATE tickets SET sole_marker = ? WHERE key = ?", (marker_label(CID), unmarked.key)),
            ("UPDATE tickets SET sole_marker = NULL WHERE key = ?", (holder.key,)),
            ("INSERT INTO tickets (key, project, number, summary, description, status,"
             " status_category, created, updated, sole_marker) VALUES ('TB-99', 'TB', 99, 's',"
             " '', 'To Do', 'new', '2026-01-01', '2026-01-01', ?)", (marker_label(CID),)),
        ]  # fmt: skip
        for sql, params in attempts:
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(sql, params)
        # Dropping the other marker leaves `old` with CID alone: reopened, it would be a second.
        conn.execute("DELETE FROM labels WHERE label = ?", (marker_label(OTHER),))
        with pytest.raises(sqlite3.IntegrityError, match=r"tickets\.sole_marker"):
            conn.execute(
                "UPDATE tickets SET status = 'To Do', status_category = 'new' WHERE key = ?",
                (old,),
            )
    assert open_per_marker(db) == Counter({CID: 1})
    assert store.create(new_ticket(), "Again.").key == holder.key


def test_the_store_and_the_planner_agree_on_what_a_marker_is(tmp_path: Path) -> None:
    """`sole_marker` (SQL GLOB) against `Ticket.marker_ids` (core's regular expression)."""
    store = LocalTicketStore(tmp_path / "t.db")
    label_sets = [
        (marker_label(CID),),
        (marker_label(CID.upper()),),
        (marker_label(CID[:-1]),),
        (marker_label(CID + "0"),),
        ("tb-" + CID[:-1] + "g",),
        (MARKER_LABEL, "tb-other", marker_label(OTHER)),
        (marker_label(CID), marker_label(OTHER)),
    ]
    with raw(tmp_path / "t.db") as conn:
        store.add_manual_ticket("warm-up", None)
        for labels in label_sets:
            ticket = store.add_manual_ticket("Check", None, labels=labels)
            (sole,) = conn.execute(
                "SELECT sole_marker FROM tickets WHERE key = ?", (ticket.key,)
            ).fetchone()
            expected = marker_label(ticket.marker_ids[0]) if len(ticket.marker_ids) == 1 else None
            assert sole == expected, labels
            store.set_status(ticket.key, "Done")


# -- old stores ----------------------------------------------------------------------------


def version_one_store(db: Path, tickets: list[tuple[str, str, tuple[str, ...]]]) -> None:
    """A file as ticketbridge wrote it before the rule: (key, status category, labels) each."""
    with raw(db) as conn:
        for statement in MIGRATIONS[0]:
            assert isinstance(statement, str)
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for number, (key, category, labels) in enumerate(tickets, start=1):
            status = {"new": "To Do", "done": "Done"}[category]
            ticket_id = conn.execute(
                "INSERT INTO tickets (key, project, number, summary, description, status,"
                " status_category, created, updated) VALUES (?, 'TB', ?, 's', '', ?, ?,"
                " '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
                (key, number, status, category),
            ).lastrowid
            for position, label in enumerate(labels):
                conn.execute(
                    "INSERT INTO labels (ticket_id, position, label) VALUES (?, ?, ?)",
                    (ticket_id, position, label),
                )
        conn.execute(
            "INSERT INTO key_counters (project, last_number) VALUES ('TB', ?)", (len(tickets),)
        )


def test_an_old_store_is_migrated_and_then_keeps_the_rule(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    version_one_store(
        db,
        [
            ("TB-1", "done", (MARKER_LABEL, marker_label(CID))),
            ("TB-2", "new", (MARKER_LABEL, marker_label(CID))),
            ("TB-3", "new", (marker_label(CID), marker_label(OTHER))),
            ("TB-4", "new", ("ops",)),
        ],
    )
    store = LocalTicketStore(db)
    assert store.create(new_ticket(), "Expiring.").key == "TB-2"
    with pytest.raises(PermanentBackendError, match=r"^TB-1: cannot move it to To Do: TB-2 is"):
        store.transition("TB-1", "reopen", "Still expiring.")
    assert store.create(new_ticket(OTHER), "Expiring.").key == "TB-5"
    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_old_store_with_two_open_tickets_for_a_marker_is_refused_naming_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    version_one_store(
        db,
        [
            ("TB-1", "new", (MARKER_LABEL, marker_label(CID))),
            ("TB-2", "new", (marker_label(OTHER),)),
            ("TB-3", "done", (MARKER_LABEL, marker_label(CID))),
            ("TB-4", "new", (MARKER_LABEL, marker_label(CID))),
            ("TB-5", "new", (marker_label(OTHER),)),
        ],
    )
    store = LocalTicketStore(db)
    for operation in (store.open_tickets, lambda: store.create(new_ticket(), "Filed.")):
        with pytest.raises(PermanentBackendError) as info:
            operation()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{db}: cannot upgrade the ticket store")
        assert f"tb-{CID} on TB-1, TB-4; tb-{OTHER} on TB-2, TB-5" in message
        fix = message.split(f"sqlite3 {db} ")[1].removesuffix(", then run again")
    with raw(db) as conn:  # left as it was: still version 1, no half-made column
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = [row[1] for row in conn.execute("PRAGMA table_info(tickets)")]
        assert "sole_marker" not in columns
        conn.execute(json.loads(fix))  # the command the message gives, as a person would run it
    assert [t.key for t in store.open_tickets()] == ["TB-1", "TB-2"]
