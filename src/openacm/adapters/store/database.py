"""Engines, transactions and migrations for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction survives the death
of the process (kill -9), which is the failure this server must survive; only a power cut
could lose the last commits. Write transactions start with BEGIN IMMEDIATE so two writers
queue instead of failing on a lock upgrade.

Writers to one SQLite file queue on a lock of their own before BEGIN IMMEDIATE: a lock
held by this process's threads, then flock() on `<database>.write.lock` for the other
processes. SQLite's own busy handler only polls (it sleeps 1, 2, 5, 10, ... ms between
tries), so under a burst of writes a waiting writer slept on after the lock was free and
the writes of all the server's processes went slower than one process's; a waiter on
flock() is woken by the kernel when the lock is released. The busy timeout stays as the
backstop for anything that writes without the lock (the sqlite3 shell).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Requests run in anyio's worker threads (40 by default); a pooled connection for each keeps
# connections from being opened and closed under load.
POOL_SIZE = 40
# Any constant works; it only has to be the same in every openacm process.
PG_MIGRATION_LOCK_ID = 0x0A_C0_0001


class StoreNotReady(Exception):
    """The database is unreachable or its schema is not at the current migration."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine()
        self._write_lock = _SqliteWriteLock(self._sqlite_file()) if self.is_sqlite else None

    def _sqlite_file(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=10)
        if self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url,
            poolclass=QueuePool,
            pool_size=POOL_SIZE,
            max_overflow=10,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot: on PostgreSQL REPEATABLE READ, so that
        a read of several statements (a certificate, then its validations) never sees half of
        a write committed between them (read-only, it never fails to serialize); a SQLite
        read transaction is a snapshot already."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin"] = "BEGIN"
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.connect() as conn:
            conn.info["begin"] = "BEGIN IMMEDIATE"
            with conn.begin():
                yield conn

    # -- migrations -----------------------------------------------------------------------

    # Alembic (and the Mako and Pygments it imports) is imported by the methods that use
    # it, so a process that only opens the store does not pay a fifth of a second for it.

    def _alembic_config(self, connection: Connection | None = None) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self) -> None:
        """Bring the schema to head; safe when several processes start at once."""
        from alembic import command

        with self._migration_lock(), self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_MIGRATION_LOCK_ID}
                )
            command.upgrade(self._alembic_config(conn), "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if not (self.is_sqlite and self.url.database):
            yield
            return
        lock_path = Path(self.url.database).with_suffix(".migrate.lock")
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_ready(self) -> None:
        try:
            current = self.current_revision()
        except Exception as exc:  # any driver error means "not reachable"
            raise StoreNotReady(f"database unreachable: {type(exc).__name__}") from exc
        head = self.head_revision()
        if current != head:
            raise StoreNotReady(f"schema at {current}, code expects {head}")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()


class _SqliteWriteLock:
    """One writer at a time to a SQLite file: this process's threads queue on a lock, the
    processes on flock() (see the module's docstring). Re-entrant within a thread."""

    def __init__(self, database: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        if database is not None:
            path = database.with_name(database.name + ".write.lock")
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._depth == 0 and self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits without the GIL
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event decide how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite_transaction(conn: Connection) -> None:
    conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))
