"""Migration 0008 creates the report tables exactly as the models declare them."""

from __future__ import annotations

from reports_support import migrate
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from intake.db import import_models
from intake.reports import MODEL_MODULES


def test_migration_0008_matches_the_models(database_url: str) -> None:
    migrate(database_url)
    import_models(MODEL_MODULES)
    engine = create_engine(database_url)
    try:
        found = inspect(engine)
        for name in ("report", "report_rate"):
            model = SQLModel.metadata.tables[name]
            columns = {c["name"]: c for c in found.get_columns(name)}
            assert set(columns) == {c.name for c in model.columns}, name
            for column in model.columns:
                assert columns[column.name]["nullable"] == column.nullable, column.name
            indexes = {i["name"] for i in found.get_indexes(name)}
            assert {i.name for i in model.indexes} <= indexes, name
            foreign = {
                (f["referred_table"], tuple(f["constrained_columns"]))
                for f in found.get_foreign_keys(name)
            }
            assert foreign == {
                (k.column.table.name, (k.parent.name,)) for k in model.foreign_keys
            }, name
    finally:
        engine.dispose()
