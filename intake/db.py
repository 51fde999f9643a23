"""The database: one engine, transactions that behave the same on SQLite and PostgreSQL.

SQLite is the embedded default (WAL, a busy timeout, ``BEGIN IMMEDIATE`` for writes so
two writers queue instead of failing on a lock upgrade); PostgreSQL serves production and
several workers. Every table is a SQLModel class in its own module; :func:`import_models`
imports them all so that metadata and Alembic see the whole schema.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from intake.crypto import FieldCipher

#: Modules that define tables, lowest layer first. Alembic's env imports this list.
MODEL_MODULES = (
    "intake.contacts",
    "intake.households",
    "intake.queue",
    "intake.applications",
    "intake.callbacks",
    "intake.audit",
    "intake.attachments",
    "intake.users",
    "intake.reports.models",
    "intake.reports.limits",
    "intake.procedure",
    "intake.helpers.models",
    "notifications.outbox",
    "notifications.timers",
    "notifications.sms.models",
    "bot.sessions",
    "bot.inbound",
    "bot.channels.wechat.tokens",
)


def import_models(extra: tuple[str, ...] = ()) -> None:
    """Import every table module so ``SQLModel.metadata`` knows the full schema."""
    for name in (*MODEL_MODULES, *extra):
        importlib.import_module(name)


class Database:
    """A configured engine plus the two kinds of transaction the app uses."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        sealer: FieldCipher | None = None,
    ) -> None:
        self.url = url
        #: The service's field key, for what lower layers seal without being handed it
        #: (outbox payloads: ``session.info["sealer"]``).
        self.sealer = sealer
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                secure_sqlite_files(Path(parsed.database))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if not parsed.database or parsed.database == ":memory:":
                kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        #: SQLite has one writer; queueing writers here hands the lock over at once, where
        #: SQLite's own busy handler would sleep and retry (a long tail under load).
        self._write_lock = threading.RLock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that will write: committed on success, rolled back on error."""
        if self._write_lock is None:
            with self._session() as session:
                yield from _committed(session)
            return
        with self._write_lock, self._session() as session:
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield from _committed(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (never blocks SQLite writers under WAL)."""
        with self._session() as session:
            yield session  # closing ends the transaction and keeps loaded objects usable

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False, info={"sealer": self.sealer})

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


#: The data folder and the database files are the service's alone: other local users must
#: not read households' data (nor the WAL, which holds recent pages in the clear).
DIR_MODE = 0o700
FILE_MODE = 0o600
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def secure_sqlite_files(path: Path) -> None:
    """Create the database's folder 0700 and its file 0600, and fix an existing folder's
    and files' modes (SQLite gives the WAL and shared-memory files its main file's mode)."""
    folder = path.parent
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(folder, DIR_MODE)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))  # an empty file is a valid db
    for suffix in _SQLITE_SUFFIXES:
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            os.chmod(sibling, FILE_MODE)


def _committed(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN so IMMEDIATE can be asked for."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we emit it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
