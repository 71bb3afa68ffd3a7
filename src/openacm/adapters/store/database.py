"""Engines, transactions and migrations for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction survives the death
of the process (kill -9), which is the failure this server must survive; only a power cut
could lose the last commits. Write transactions start with BEGIN IMMEDIATE so two writers
queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

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
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin"] = "BEGIN"
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin"] = "BEGIN IMMEDIATE"
            with conn.begin():
                yield conn

    # -- migrations -----------------------------------------------------------------------

    def _alembic_config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self) -> None:
        """Bring the schema to head; safe when several processes start at once."""
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
