"""The database layer on both backends: migrations, SQLite settings, an append-only log."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from bot.services import Services, upgrade
from intake import audit


def test_migrations_create_every_table(services: Services) -> None:
    from sqlmodel import SQLModel

    tables = set(inspect(services.db.engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    upgrade(services.db.url)  # applying again is a no-op


def test_sqlite_runs_in_wal_with_a_busy_timeout_and_foreign_keys(services: Services) -> None:
    if not services.db.is_sqlite:
        pytest.skip("SQLite settings")
    with services.db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_event SET reason = 'rewritten'", "DELETE FROM audit_event"]
)
def test_the_audit_log_refuses_rewrites(services: Services, statement: str) -> None:
    with services.db.write() as db:
        event = audit.record(
            db,
            actor="system",
            action="test.recorded",
            subject_kind="test",
            subject_id=1,
            at=services.clock(),
            reason="kept",
        )
    with pytest.raises(DBAPIError, match="append-only"), services.db.write() as db:
        db.execute(text(statement))
    with services.db.read() as db:
        assert [e.reason for e in audit.events_for(db, "test", 1)] == ["kept"]
    assert event.id is not None


def test_a_failed_write_leaves_nothing(services: Services) -> None:
    with pytest.raises(RuntimeError), services.db.write() as db:
        audit.record(db, actor="system", action="test.half", subject_kind="test", subject_id=2)
        db.flush()
        raise RuntimeError("stop")
    with services.db.read() as db:
        assert audit.events_for(db, "test", 2) == []
