"""Alembic environment: the schema is every SQLModel table the app imports."""

from __future__ import annotations

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import engine_from_config, inspect, pool, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from intake.db import import_models

import_models()
config = context.config
target_metadata = SQLModel.metadata


def run_offline() -> None:
    """Emit SQL without a connection (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply migrations over a connection."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _drop_redundant_versions(connection: Connection) -> None:
    """Forget version rows that are ancestors of another row.

    0002 and 0003 were once two branches off 0001; 0003 now follows 0002. A database
    migrated back then records both heads, which Alembic refuses as overlapping; the
    ancestor row says nothing the descendant does not, so it is dropped. Leaves the
    connection as it found it (no transaction of ours left open for Alembic to inherit).
    """
    ours = not connection.in_transaction()
    try:
        if not inspect(connection).has_table("alembic_version"):
            return
        found = connection.execute(text("SELECT version_num FROM alembic_version"))
        rows = {str(row[0]) for row in found}
        script = ScriptDirectory.from_config(config)
        known = {row for row in rows if len(rows) > 1 and script.get_revision(row) is not None}
        ancestors = {
            rev.revision
            for row in known
            for rev in script.iterate_revisions(row, "base")
            if rev is not None and rev.revision != row
        }
        for row in sorted(ancestors & known):
            connection.execute(
                text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": row}
            )
    finally:
        if ours and connection.in_transaction():
            connection.commit()


def _run(connection: Connection) -> None:
    _drop_redundant_versions(connection)
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
