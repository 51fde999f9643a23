"""The database layer on both backends: migrations, SQLite settings, an append-only log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.services import Services, upgrade
from intake import audit
from intake.db import Database


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


def test_the_data_folder_and_database_files_are_the_services_alone(
    services: Services, tmp_path: Path
) -> None:
    if not services.db.is_sqlite:
        pytest.skip("file modes of the embedded database")
    with services.db.write() as db:
        audit.record(db, actor="system", action="test.mode", subject_kind="test", subject_id=3)
    path = Path(make_url(services.db.url).database or "")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for suffix in ("", "-wal", "-shm"):
        assert stat.S_IMODE(path.with_name(path.name + suffix).stat().st_mode) == 0o600, suffix


def test_an_existing_open_data_folder_is_closed_on_start(tmp_path: Path) -> None:
    folder = tmp_path / "old-var"
    folder.mkdir(mode=0o755)
    database = folder / "hotline.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    os.chmod(folder, 0o755)  # noqa: S103 - the old, too open mode under test
    Database(f"sqlite:///{database}").dispose()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
