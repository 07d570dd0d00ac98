"""The SQLite file the embedded ticket store lives in: schema, migrations, transactions, errors."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ticketbridge.errors import BackendError, PermanentBackendError, TransientBackendError
from ticketbridge.tickets.markers import ONE_OPEN_TICKET_PER_MARKER

# `PRAGMA application_id` ("TBr1"): tells our file apart from any other SQLite database
# that a mistyped `local_path` might point at, before we add tables to it.
APPLICATION_ID = 0x54427231

# A migration step: one SQL statement, or a check that refuses the file (with its path).
Step = str | Callable[[sqlite3.Connection, Path], None]

# Ordered migrations: migration N takes the file from user_version N-1 to N. Never edit a
# shipped entry, append a new one: files in the field are at every version.
MIGRATIONS: Final[tuple[tuple[Step, ...], ...]] = (
    (
        """CREATE TABLE key_counters (
            project TEXT PRIMARY KEY,
            last_number INTEGER NOT NULL
        ) STRICT""",
        """CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            project TEXT NOT NULL,
            number INTEGER NOT NULL,
            summary TEXT NOT NULL,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            status_category TEXT NOT NULL
                CHECK (status_category IN ('new', 'indeterminate', 'done')),
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            due_date TEXT,
            priority TEXT,
            assignee TEXT,
            resolved_at TEXT,
            evidence TEXT NOT NULL DEFAULT '{}',
            UNIQUE (project, number)
        ) STRICT""",
        """CREATE TABLE labels (
            ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            position INTEGER NOT NULL,
            label TEXT NOT NULL,
            PRIMARY KEY (ticket_id, label)
        ) STRICT""",
        "CREATE INDEX labels_by_label ON labels (label)",
        """CREATE TABLE comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            created TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX comments_by_ticket ON comments (ticket_id, id)",
        """CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            at TEXT NOT NULL,
            field TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT
        ) STRICT""",
        "CREATE INDEX history_by_ticket ON history (ticket_id, id)",
    ),
    ONE_OPEN_TICKET_PER_MARKER,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class StoreFile:
    """One SQLite file, opened per operation: a store object holds no open file, needs no
    closing, and can be shared by several processes at once (WAL, BEGIN IMMEDIATE)."""

    path: Path
    busy_timeout: float = 10.0

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection | None]:
        """A consistent snapshot for several SELECTs; None when the file does not exist yet."""
        with self._translated_errors():
            if not self.path.exists():
                yield None
                return
            conn = self._connect()
            try:
                conn.execute("BEGIN")
                yield conn
            finally:
                conn.close()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        with self._translated_errors():
            self._create_file()
            conn = self._connect()
            try:
                # IMMEDIATE takes the write lock up front, waiting up to busy_timeout: a
                # deferred transaction that upgrades later fails at once in WAL mode instead.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except BackendError:
            raise
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise TransientBackendError(
                    f"{self.path}: ticket store is busy (another writer held it for more than"
                    f" {self.busy_timeout:g}s): {exc}"
                ) from exc
            raise PermanentBackendError(f"{self.path}: ticket store unusable: {exc}") from exc
        except sqlite3.Error as exc:
            raise PermanentBackendError(f"{self.path}: ticket store unusable: {exc}") from exc
        except OSError as exc:
            raise PermanentBackendError(
                f"{self.path}: ticket store unusable: {exc.strerror or exc}"
            ) from exc

    def _create_file(self) -> None:
        # Created here rather than by sqlite so it is 0600 from the first byte: tickets name
        # hosts and owners. SQLite gives its -wal and -shm files the same mode.
        if not self.path.parent.is_dir():
            raise PermanentBackendError(f"{self.path}: directory {self.path.parent} does not exist")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never let sqlite create the file itself (with the umask's mode).
        uri = f"{self.path.absolute().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # FULL: a write that returned must survive a power cut. The audit log already
            # names its key; a lost TB-5 would otherwise be handed out again to another ticket.
            conn.execute("PRAGMA synchronous = FULL")
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        if (
            _pragma_int(conn, "user_version") == SCHEMA_VERSION
            and _pragma_int(conn, "application_id") == APPLICATION_ID
        ):
            return
        # Everything is decided under the write lock: several processes may open a new file
        # at once, and reads outside one transaction could see it half-way through another's
        # migration (tables, but no application id yet) and take it for a foreign database.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._checked_version(conn)
            for steps in MIGRATIONS[version:]:
                for step in steps:
                    if isinstance(step, str):
                        conn.execute(step)
                    else:
                        step(conn, self.path)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        # WAL lets readers run beside the one writer. It is a property of the file, cannot be
        # changed inside a transaction, and is only set once the file is known to be ours.
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")

    def _checked_version(self, conn: sqlite3.Connection) -> int:
        """The file's schema version, or PermanentBackendError when it is not ours to use."""
        version = _pragma_int(conn, "user_version")
        application_id = _pragma_int(conn, "application_id")
        has_tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
        if application_id != APPLICATION_ID and (application_id != 0 or has_tables):
            raise PermanentBackendError(
                f"{self.path}: not a ticketbridge ticket store (another application's"
                " SQLite database); point [tickets] local_path at a new file"
            )
        if version > SCHEMA_VERSION:
            raise PermanentBackendError(
                f"{self.path}: ticket store schema version {version} is newer than this"
                f" ticketbridge supports ({SCHEMA_VERSION}); upgrade ticketbridge to use it"
            )
        return version


def _pragma_int(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database is busy" in message
