"""The embedded SQLite ticket store and the run lock, against real files and real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ticketbridge.app.runlock import RunLock
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import LockError, LockHeld, PermanentBackendError, TransientBackendError
from ticketbridge.tickets.local import SCHEMA_VERSION, LocalTicketStore

SPAWN = multiprocessing.get_context("spawn")
T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new_ticket(
    cid: str, endpoints: tuple[str, ...] = ("app.example.com:443@192.0.2.10",)
) -> NewTicket:
    return NewTicket(
        summary=f"Renew certificate {cid}",
        description="",
        due_date=date(2026, 11, 14),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": list(endpoints)},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tickets.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Path, clock: Clock) -> LocalTicketStore:
    return LocalTicketStore(db, clock=clock)


@contextmanager
def raw(db: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        yield conn


# -- persistence ------------------------------------------------------------------------------


def test_everything_survives_reopening_the_file(db: Path, clock: Clock) -> None:
    first = LocalTicketStore(db, clock=clock)
    created = first.create(new_ticket("a1"), "Filed.")
    clock.advance(hours=1)
    first.edit(created.key, TicketEdit(due_date=date(2026, 10, 30), priority="Highest"), "Moved.")
    first.add_comment(created.key, "Paging on-call.")
    clock.advance(hours=1)
    closed = first.transition(created.key, "done", "Renewed.")
    manual = first.add_manual_ticket("Renew *.example.com", date(2027, 9, 1))

    again = LocalTicketStore(db, clock=clock)

    assert again.all_tickets() == [closed, manual]
    assert again.get(created.key).due_date == date(2026, 10, 30)
    assert again.get(created.key).resolved_at == T0 + timedelta(hours=2)
    assert again.get(created.key).created == T0
    assert [c.body for c in again.comments(created.key)] == [
        "Filed.",
        "Moved.",
        "Paging on-call.",
        "Renewed.",
    ]
    assert again.history(created.key) == first.history(created.key)
    assert again.create(new_ticket("b2"), "Filed.").key == "TB-3"


def test_on_disk_format_is_iso_text(store: LocalTicketStore, db: Path) -> None:
    store.create(new_ticket("a1"), "Filed.")
    with raw(db) as conn:
        created, due, comment_at = conn.execute(
            "SELECT t.created, t.due_date, c.created FROM tickets t JOIN comments c"
            " ON c.ticket_id = t.id"
        ).fetchone()
    assert created == comment_at == "2026-11-01T09:30:00.000000Z"
    assert due == "2026-11-14"


def test_reading_a_missing_store_creates_nothing(db: Path) -> None:
    store = LocalTicketStore(db)
    assert store.open_tickets() == []
    assert store.find_by_marker("a1") == []
    assert store.all_tickets() == []
    with pytest.raises(PermanentBackendError):
        store.comments("TB-1")
    assert not db.exists()


def test_files_are_private_whatever_the_umask(db: Path) -> None:
    previous = os.umask(0)
    try:
        LocalTicketStore(db).create(new_ticket("a1"), "Filed.")
        with raw(db) as conn:
            # An open reader keeps the -wal and -shm files around for inspection.
            conn.execute("SELECT count(*) FROM tickets").fetchone()
            for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        os.umask(previous)


def test_fresh_file_is_versioned_and_in_wal_mode(store: LocalTicketStore, db: Path) -> None:
    store.create(new_ticket("a1"), "Filed.")
    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- schema versions and foreign files --------------------------------------------------------


def test_a_newer_schema_is_refused_with_a_clear_message(store: LocalTicketStore, db: Path) -> None:
    store.create(new_ticket("a1"), "Filed.")
    with raw(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    for operation in (store.open_tickets, lambda: store.create(new_ticket("b2"), "Filed.")):
        with pytest.raises(PermanentBackendError) as info:
            operation()
        message = str(info.value)
        assert str(db) in message
        assert f"schema version {SCHEMA_VERSION + 1}" in message
        assert "upgrade ticketbridge" in message

    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1


def test_another_applications_database_is_left_alone(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")

    with pytest.raises(PermanentBackendError, match="not a ticketbridge ticket store") as info:
        LocalTicketStore(db).create(new_ticket("a1"), "Filed.")

    assert str(db) in str(info.value)
    with raw(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_schema")}
    assert tables == {"invoices"}


def test_a_file_that_is_not_a_database_is_a_permanent_error(db: Path) -> None:
    db.write_bytes(b"certainly not sqlite " * 100)

    with pytest.raises(PermanentBackendError) as info:
        LocalTicketStore(db).open_tickets()

    assert str(db) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_missing_directory_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "tickets.db"
    with pytest.raises(PermanentBackendError, match="does not exist") as info:
        LocalTicketStore(db).create(new_ticket("a1"), "Filed.")
    assert str(tmp_path / "nowhere") in str(info.value)


# -- concurrency ------------------------------------------------------------------------------


def test_a_writer_held_past_the_busy_timeout_is_transient(db: Path) -> None:
    store = LocalTicketStore(db, busy_timeout=0.05)
    store.create(new_ticket("a1"), "Filed.")

    with raw(db) as blocker:
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TransientBackendError, match="busy") as info:
                store.create(new_ticket("b2"), "Filed.")
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
            # WAL: readers are not blocked by the writer.
            assert [t.key for t in store.open_tickets()] == ["TB-1"]
        finally:
            blocker.rollback()

    assert store.create(new_ticket("b2"), "Filed.").key == "TB-2"


def _create_many(path: str, prefix: str, count: int, go: Any, results: Any) -> None:
    store = LocalTicketStore(Path(path))
    go.wait(30)
    try:
        keys = [store.create(new_ticket(f"{prefix}{i}"), "Filed.").key for i in range(count)]
    except Exception as exc:
        results.put((prefix, repr(exc)))
    else:
        results.put((prefix, keys))


@pytest.mark.slow
def test_two_processes_creating_at_once_get_distinct_keys(db: Path) -> None:
    # No store exists beforehand: the two processes also race to create and migrate it.
    go = SPAWN.Event()
    results = SPAWN.Queue()
    workers = [
        SPAWN.Process(target=_create_many, args=(str(db), prefix, 50, go, results))
        for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    go.set()
    try:
        outcomes = dict(results.get(timeout=60) for _ in workers)
    finally:
        for worker in workers:
            worker.join(30)
            worker.close()
        results.close()
        results.join_thread()

    assert all(isinstance(keys, list) for keys in outcomes.values()), outcomes
    keys = outcomes["a"] + outcomes["b"]
    assert sorted(keys, key=lambda k: int(k[3:])) == [f"TB-{n}" for n in range(1, 101)]
    store = LocalTicketStore(db)
    assert len(store.all_tickets()) == 100
    for prefix in ("a", "b"):
        for i in range(50):
            assert len(store.find_by_marker(f"{prefix}{i}")) == 1


def _create_forever(path: str, prefix: str) -> None:
    store = LocalTicketStore(Path(path))
    for i in range(1_000_000):
        cid = f"{prefix}{i:015x}"  # a real certificate id: 16 hex digits
        store.create(new_ticket(cid), f"Filed {cid}.")


def _wait_for_tickets(store: LocalTicketStore, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(store.all_tickets()) < count:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_writer_killed_mid_create_never_leaves_a_ticket_without_its_marker(db: Path) -> None:
    store = LocalTicketStore(db)
    for round_number, goal in enumerate((15, 40, 70)):
        writer = SPAWN.Process(target=_create_forever, args=(str(db), f"{round_number:x}"))
        writer.start()
        try:
            _wait_for_tickets(store, goal)
        finally:
            assert writer.pid is not None
            os.kill(writer.pid, signal.SIGKILL)
            writer.join(30)
            writer.close()

    tickets = store.all_tickets()
    assert len(tickets) >= 70
    for ticket in tickets:
        (cid,) = ticket.marker_ids
        assert ticket.labels == (MARKER_LABEL, marker_label(cid))
        assert [t.key for t in store.find_by_marker(cid)] == [ticket.key]
        assert [c.body for c in store.comments(ticket.key)] == [f"Filed {cid}."]
        assert ticket.tracked_endpoints == ("app.example.com:443@192.0.2.10",)
    with raw(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = conn.execute(
            "SELECT count(*) FROM tickets t WHERE NOT EXISTS"
            " (SELECT 1 FROM labels l WHERE l.ticket_id = t.id)"
        ).fetchone()[0]
    assert orphans == 0
    numbers = sorted(int(ticket.key[3:]) for ticket in tickets)
    assert numbers == list(range(1, len(tickets) + 1))
    assert store.create(new_ticket("after"), "Filed.").key == f"TB-{len(tickets) + 1}"


# -- the recently-closed window, statuses and manual tickets ----------------------------------


def test_closed_tickets_with_a_marker_stay_in_view_for_30_days(
    store: LocalTicketStore, clock: Clock
) -> None:
    marked = store.create(new_ticket("a1"), "Filed.")
    store.transition(marked.key, "done", "Renewed.")
    unmarked = store.add_manual_ticket("Rotate the VPN key", date(2026, 12, 1), labels=("vpn",))
    store.set_status(unmarked.key, "Done")

    clock.advance(days=29, hours=23)
    assert [t.key for t in store.open_tickets()] == [marked.key]

    clock.advance(hours=2)
    assert store.open_tickets() == []
    assert [t.key for t in store.find_by_marker("a1")] == [marked.key]


def test_transitions_not_available_from_the_current_status_are_refused(
    store: LocalTicketStore,
) -> None:
    created = store.create(new_ticket("a1"), "Filed.")
    with pytest.raises(PermanentBackendError, match="not closed"):
        store.transition(created.key, "reopen", "Reopen.")
    store.transition(created.key, "done", "Renewed.")
    with pytest.raises(PermanentBackendError, match="already Done"):
        store.transition(created.key, "done", "Renewed again.")
    assert len(store.comments(created.key)) == 2


def test_a_hand_filed_ticket_moves_like_one_on_a_board(
    store: LocalTicketStore, clock: Clock
) -> None:
    filed_at = T0 - timedelta(days=40)
    manual = store.add_manual_ticket(
        "Renew *.example.com", date(2027, 9, 1), created=filed_at, assignee="dana"
    )
    assert (manual.key, manual.status, manual.status_category) == ("TB-1", "To Do", "new")
    assert manual.created == filed_at
    assert manual.labels == ()
    assert manual.tracked_endpoints == ()
    assert store.comments(manual.key) == []

    clock.advance(hours=1)
    working = store.set_status(manual.key, "In Progress")
    assert working.in_progress and working.is_open
    assert working.resolved_at is None

    clock.advance(hours=1)
    done = store.set_status(manual.key, "Done")
    assert done.resolved_at == T0 + timedelta(hours=2)

    with pytest.raises(PermanentBackendError, match="unknown status"):
        store.set_status(manual.key, "Blocked")

    changes = [(c.field, c.old_value, c.new_value) for c in store.history(manual.key)]
    assert changes == [
        ("created", None, "TB-1"),
        ("status", "To Do", "In Progress"),
        ("status", "In Progress", "Done"),
    ]


def test_history_records_what_changed_from_what(store: LocalTicketStore) -> None:
    created = store.create(new_ticket("a1"), "Filed.")
    store.edit(
        created.key,
        TicketEdit(due_date=date(2026, 10, 30), add_labels=("urgent",), priority="Highest"),
        "Expiry moved.",
    )
    store.edit(created.key, TicketEdit(due_date=date(2026, 10, 30)), "No change, one comment.")

    changes = [(c.field, c.old_value, c.new_value) for c in store.history(created.key)]
    assert changes == [
        ("created", None, "TB-1"),
        ("due_date", "2026-11-14", "2026-10-30"),
        ("priority", None, "Highest"),
        ("labels", None, "urgent"),
    ]
    assert len(store.comments(created.key)) == 3


def test_projects_sharing_a_file_number_and_list_separately(db: Path) -> None:
    tb = LocalTicketStore(db)
    ops = LocalTicketStore(db, project_key="OPS")
    assert tb.create(new_ticket("a1"), "Filed.").key == "TB-1"
    assert ops.create(new_ticket("a1"), "Filed.").key == "OPS-1"
    assert [t.key for t in tb.open_tickets()] == ["TB-1"]
    assert [t.key for t in ops.find_by_marker("a1")] == ["OPS-1"]


@pytest.mark.parametrize(
    ("summary", "comment"),
    [
        ("Renew\nsecond line", "Filed."),
        ("   ", "Filed."),
        ("Renew", "   "),
        ("Renew", "x" * 32_768),
    ],
)
def test_jira_like_validation(store: LocalTicketStore, summary: str, comment: str) -> None:
    ticket = NewTicket(summary, "", date(2026, 11, 14), ("tb-a1",), "a1")
    with pytest.raises(PermanentBackendError):
        store.create(ticket, comment)
    assert store.all_tickets() == []


def test_evidence_must_name_endpoints_as_text(store: LocalTicketStore) -> None:
    created = store.create(new_ticket("a1"), "Filed.")
    with pytest.raises(PermanentBackendError, match="endpoints"):
        store.edit(created.key, TicketEdit(evidence={"endpoints": "app:443"}), "Bad evidence.")
    evidence = {"endpoints": ("api:443@192.0.2.11",), "effective_not_after": T0}
    edited = store.edit(created.key, TicketEdit(evidence=evidence), "Tuple and datetime.")
    assert edited.tracked_endpoints == ("api:443@192.0.2.11",)


# -- the run lock -----------------------------------------------------------------------------


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with RunLock(path) as held:
        assert held.held
        with pytest.raises(LockHeld) as info:
            RunLock(path).acquire()
        assert info.value.holder.pid == os.getpid()
        assert info.value.holder.started_at is not None
        assert str(path) in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
        with pytest.raises(LockError, match="already held"):
            held.acquire()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with RunLock(path):
        pass
    assert path.exists()  # never unlinked: see RunLock


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with pytest.raises(RuntimeError), RunLock(path):
        raise RuntimeError("run failed")
    with RunLock(path) as again:
        assert again.held


def test_an_unusable_lock_path_is_a_lock_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot open"):
        RunLock(tmp_path / "missing" / "run.lock").acquire()


def _try_lock(path: str, results: Any) -> None:
    try:
        with RunLock(Path(path)):
            results.put(("acquired", None))
    except LockHeld as exc:
        results.put(("held", exc.holder.pid))


def _hold_lock(path: str, ready: Any) -> None:
    with RunLock(Path(path)):
        ready.set()
        time.sleep(120)


def test_another_process_is_refused_while_we_hold_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    results = SPAWN.Queue()
    try:
        with RunLock(path):
            child = SPAWN.Process(target=_try_lock, args=(str(path), results))
            child.start()
            outcome = results.get(timeout=60)
            child.join(30)
            child.close()
    finally:
        results.close()
        results.join_thread()
    assert outcome == ("held", os.getpid())


def test_a_killed_holder_never_wedges_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    ready = SPAWN.Event()
    holder = SPAWN.Process(target=_hold_lock, args=(str(path), ready))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(LockHeld) as info:
            RunLock(path).acquire()
        assert info.value.holder.pid == holder.pid
    finally:
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(30)
        holder.close()

    with RunLock(path) as lock:
        assert lock.held
    assert path.read_text() == ""  # a released lock names no holder
