"""Open the SQLite store: permissions, pragmas, migrations.

Every connection turns foreign keys on (SQLite's default is off), uses WAL so
staff can read while a poll writes, and waits on a busy database for a while
before raising StoreBusyError.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..errors import StoreBusyError, StoreError
from . import safety
from .schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 10_000
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every stored timestamp: UTC to the second, sorts as text


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None = None) -> str:
    """ISO 8601 in UTC to the second: sorts as text, reads well."""
    dt = dt or utcnow()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime(ISO_FORMAT)


_now = [-1, ""]  # [second, iso() of it]


def now_iso() -> str:
    """iso() of the current time: every stored row gets one, so the string is made once per second."""
    second = int(time.time())  # floored, as datetime.now() is
    if second != _now[0]:
        _now[1] = time.strftime(ISO_FORMAT, time.gmtime(second))
        _now[0] = second
    return _now[1]


def parse_iso(value: str) -> datetime:
    """The inverse of iso(), as an aware UTC datetime. fromisoformat reads the
    "Z" (3.11+) at a fraction of strptime's cost (~12 µs, on the poll's hot path)."""
    if not value.endswith("Z"):
        raise ValueError(f"not a UTC timestamp of iso(): {value!r}")
    return datetime.fromisoformat(value)


def open_db(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *,
            check_same_thread: bool = True, create: bool = True) -> sqlite_utils.Database:
    """The store at `path`; `db.created` tells whether this call made the file.

    create=False: a missing file is a ConfigError (a mistyped database.path
    must not look like an empty store)."""
    path = Path(path)
    fd = None
    created = not os.path.lexists(path)
    if not create and created:
        from ..errors import ConfigError
        raise ConfigError("database.path", f"no database at {path} (a new one is made by `abuse-intake init`)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        safety.warn_if_shared(path.parent)
        # Created owner-only (reports hold personal data), never through a planted
        # symlink, never a file another user owns or can write.
        fd = safety.open_private(path, os.O_RDWR | os.O_CREAT, "database")
        for side in ("-wal", "-shm", "-journal"):
            safety.check_if_present(path.with_name(path.name + side), "database file")
        conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=check_same_thread)
        if not safety.same_file(fd, path):  # swapped between our check and SQLite's open
            conn.close()
            raise safety.UnsafeStoreError(f"database {path} was replaced while it was being opened: refusing it")
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    finally:
        if fd is not None:
            os.close(fd)
    import sqlite_utils  # here, not at the top: read-only commands never pay for its import

    db = sqlite_utils.Database(conn)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # Only an empty file can take it: lets retention's purge give pages back to
            # the file system a bounded slice at a time (PRAGMA incremental_vacuum).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: each commit is on disk before we tell the mail server "done", so even a
        # power cut cannot lose a batch that was already moved out of the INBOX.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise store_error(exc, path) from None
    except sqlite3.DatabaseError as exc:  # not a database, or a malformed one
        conn.close()
        raise StoreError(f"database {path} cannot be used: {exc}") from None
    db.created = created
    return db


class Reader:
    """A connection for commands that only read, with the two things store
    functions use (`.conn`, `.execute`): importing sqlite_utils alone (~0.1 s,
    plugins and dateutil) costs more than a whole `cases show` on a large store."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))


def open_reader(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Reader | sqlite_utils.Database:
    """Open the store to read it. A store that does not exist yet, or whose schema
    is behind this program, goes through open_db (created, migrated) as always."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        return open_db(path, busy_timeout_ms)  # which refuses a symlink
    fd = None
    try:
        safety.warn_if_shared(path.parent)
        fd = safety.open_private(path, os.O_RDONLY, "database")  # the same checks as open_db
        for side in ("-wal", "-shm", "-journal"):
            safety.check_if_present(path.with_name(path.name + side), "database file")
        conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None)
        if not safety.same_file(fd, path):
            conn.close()
            raise safety.UnsafeStoreError(f"database {path} was replaced while it was being opened: refusing it")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror or exc}") from None
    except sqlite3.OperationalError as exc:
        raise store_error(exc, path) from None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    finally:
        if fd is not None:
            os.close(fd)
    if version != len(MIGRATIONS):
        conn.close()
        return open_db(path, busy_timeout_ms)
    return Reader(conn)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations; returns the schema version."""
    conn = db.conn
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(f"database schema version {version} is newer than this program ({len(MIGRATIONS)})")
    if version == len(MIGRATIONS):
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, len(MIGRATIONS)):
            for statement in _split(MIGRATIONS[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def _split(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate and sqlite3.complete_statement(candidate):
            out.append(candidate)
            buf = []
    rest = "\n".join(buf).strip()
    if rest and not all(l.strip().startswith("--") or not l.strip() for l in buf):
        out.append(rest)
    return out


def store_error(exc: sqlite3.OperationalError, path: Path | str = "", conn: sqlite3.Connection | None = None) -> StoreError:
    """The StoreError (StoreBusyError for a lock) that names the database for one SQLite failure."""
    if not path and conn is not None:
        try:
            path = conn.execute("PRAGMA database_list").fetchone()[2]
        except sqlite3.Error:
            path = ""
    where = f"database {path}" if path else "the database"
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreBusyError(f"{where} is locked by another writer: {text}")
    return StoreError(f"{where}: {text}")


def is_corrupt(exc: sqlite3.Error) -> bool:
    """A damaged or foreign file (SQLITE_CORRUPT, SQLITE_NOTADB): no message's fault."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, so a writer learns of a busy database up front."""
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise store_error(exc, conn=conn) from None
    try:
        yield conn
    except BaseException:
        _rollback(conn, "ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        _rollback(conn, "ROLLBACK")
        raise store_error(exc, conn=conn) from None


def _rollback(conn: sqlite3.Connection, *statements: str) -> None:
    # SQLite rolls the whole transaction back by itself after some errors
    # (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM); a second ROLLBACK would then
    # fail and hide the error that matters.
    if conn.in_transaction:
        for sql in statements:
            conn.execute(sql)


@contextmanager
def store_errors(conn: sqlite3.Connection) -> Iterator[None]:
    """SQLite's own failures (disk, lock) inside become StoreError: the store
    failed, not the data being written, and callers need not know sqlite3."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise store_error(exc, conn=conn) from None


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "msg") -> Iterator[None]:
    """A nested unit inside a batch transaction: one message's rows.

    An SQLite failure (sqlite3.OperationalError) is raised as StoreError, so
    the caller can tell "the store failed" from "this message is bad"."""
    with store_errors(conn):
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            _rollback(conn, f"ROLLBACK TO {name}", f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")


class Checkpointer:
    """Checkpoints the WAL from a thread with a connection of its own during a long run.

    With raw messages in the database a batch writes ~1.5 MB of WAL, and the
    automatic checkpoint that SQLite runs inside COMMIT (every 1000 pages)
    cost the poll ~0.13 ms a message on its critical path. A PASSIVE
    checkpoint from another connection copies the same pages while the poll
    goes on (the sqlite3 module releases the GIL around it) and never blocks
    the writer. Durability is unchanged: each COMMIT still syncs the WAL.
    Started lazily by the first `committed()`, after any forks of the run.
    """

    EVERY = 4  # commits between checkpoints

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.path = db.conn.execute("PRAGMA database_list").fetchone()[2]
        self._commits = 0
        self._executor = None
        self._running = None
        self._conn: sqlite3.Connection | None = None  # the thread's own, opened there
        self._saved = db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    def committed(self) -> None:
        self._commits += 1
        if not self.path or self._commits % self.EVERY:
            return
        if self._running is not None and not self._running.done():
            return  # still copying: the next one starts a few commits later
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            self.db.conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abuse-intake-checkpoint")
        self._running = self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Wait for a running checkpoint, hand checkpointing back to SQLite. Never raises:
        a failed checkpoint loses nothing (the pages stay in the WAL for the next one)."""
        if self._executor is None:
            return
        try:
            if self._running is not None:
                self._running.exception()
            self._executor.submit(self._close_conn).result()
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
            try:
                self.db.conn.execute(f"PRAGMA wal_autocheckpoint = {int(self._saved)}")
            except sqlite3.Error:
                pass

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
