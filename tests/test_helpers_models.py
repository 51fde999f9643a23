"""Migration 0007 builds exactly the helper tables the models declare, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from helpers_support import cipher, migrated
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from intake.audit import AuditEvent
from intake.helpers.assignments import assign_helper, create_helper, households_of
from intake.helpers.models import HelperAssignment
from intake.households import Household

OURS = {"helper", "helper_assignment", "helper_link", "visit", "roster_entry", "timer"}
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _table_of(diff: object) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    if str(item[0]).startswith("modify_"):  # type: ignore[index]
        return str(item[2])  # type: ignore[index]  # (op, schema, table, column, ...)
    for part in item[1:]:  # type: ignore[index]
        name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
        if name:
            return str(name)
    return None


def test_the_migration_matches_the_models(database_url: str) -> None:
    db = migrated(database_url)
    with db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diffs if _table_of(d) in OURS] == []


def test_one_current_helper_per_household_and_every_change_recorded(database_url: str) -> None:
    db = migrated(database_url)
    with db.write() as session:
        a = create_helper(session, cipher(), name="甲", phone="13800000001", region_code="gangkou",
                          township_code="gangkou", actor="user:1", now=NOW)  # fmt: skip
        b = create_helper(session, cipher(), name="乙", phone="13800000002", region_code="gangkou",
                          township_code="gangkou", actor="user:1", now=NOW)  # fmt: skip
        household = Household(id_hash="h", id_cipher="x", head_name="户", village_code="v")
        session.add(household)
        session.flush()
        hid, aid, bid = int(household.id or 0), int(a.id or 0), int(b.id or 0)
        assert assign_helper(session, cipher(), household_id=hid, helper_id=aid, actor="user:1",
                             reason="首次", now=NOW)  # fmt: skip
        assert assign_helper(session, cipher(), household_id=hid, helper_id=aid, actor="user:1",
                             reason="again", now=NOW) is None  # fmt: skip
        assign_helper(session, cipher(), household_id=hid, helper_id=bid, actor="user:2",
                      reason="甲调离", now=NOW)  # fmt: skip
        assert households_of(session, aid) == [] and households_of(session, bid) == [hid]
        events = session.exec(select(AuditEvent).where(AuditEvent.subject_kind == "household"))
        found = [(e.action, e.actor, cipher().unseal(e.reason)) for e in events]
        assert found == [
            ("helper.assigned", "user:1", "首次"),
            ("helper.changed", "user:2", "甲调离"),
        ]
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(HelperAssignment(household_id=hid, helper_id=aid, started_at=NOW, actor="x"))
