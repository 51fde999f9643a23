"""Migrated databases for the tests without running every migration in every test.

Running the whole Alembic chain takes about a second, and most tests build the services on
a fresh database of each kind, so the chain ran thousands of times per test run. Instead,
each test process migrates one template per database kind the first time it is needed, and
:meth:`Templates.upgrade` - standing in for :func:`bot.services.upgrade` - restores that
template into a database that is still empty: a copy of the SQLite file, or the template
schema's ``pg_dump`` replayed into the test's PostgreSQL schema. A database that is not
empty (a test that stopped it at an older revision on purpose) gets the real migrations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

Upgrade = Callable[[str], None]


class Templates:
    """One migrated template per database kind, made on first use in this process."""

    def __init__(self, folder: Path, real_upgrade: Upgrade, pg_server: str) -> None:
        self.folder = folder
        self.real_upgrade = real_upgrade
        self.pg_server = pg_server
        self._sqlite: Path | None = None
        self._pg_script: str | None = None

    def upgrade(self, url: str) -> None:
        """Bring ``url`` to the head revision, from the template when it is still empty."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            self._sqlite_upgrade(url, parsed.database)
        elif parsed.get_backend_name() == "postgresql":
            self._pg_upgrade(url)
        else:
            self.real_upgrade(url)

    # ----------------------------------------------------------------- SQLite

    def _sqlite_upgrade(self, url: str, database: str | None) -> None:
        if not database or database == ":memory:" or _has_tables(url):
            self.real_upgrade(url)
            return
        target = Path(database)
        for suffix in ("-wal", "-shm"):  # an empty database may have left these
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(self._sqlite_template(), target)  # keeps the target's 0600 mode

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "template.db"
            url = f"sqlite:///{path}"
            self.real_upgrade(url)
            engine = create_engine(url)
            with engine.connect() as conn:  # everything in the main file, no WAL to copy
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            engine.dispose()
            self._sqlite = path
        return self._sqlite

    # ----------------------------------------------------------------- PostgreSQL

    def _pg_upgrade(self, url: str) -> None:
        schema = _search_path(url)
        if schema is None or _has_tables(url):
            self.real_upgrade(url)
            return
        script = self._pg_template().replace(_PLACEHOLDER, schema)
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(script)  # no parameters: psycopg sends it as one query
        finally:
            engine.dispose()

    def _pg_template(self) -> str:
        if self._pg_script is None:
            schema = f"tmpl_{uuid.uuid4().hex[:16]}"
            admin = create_engine(self.pg_server, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
                self.real_upgrade(f"{self.pg_server}?options=-csearch_path%3D{schema}")
                self._pg_script = _dump(self.pg_server, schema)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                admin.dispose()
        return self._pg_script


_PLACEHOLDER = "__hotline_test_schema__"


def _dump(server: str, schema: str) -> str:
    """The template schema as SQL, its name replaced by a placeholder."""
    url = make_url(server)
    command = [
        "pg_dump", "--no-owner", "--no-privileges", "--inserts", "--schema", schema,
        "--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
        "--username", url.username or "postgres", url.database or "postgres",
    ]  # fmt: skip
    dumped = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    kept = []
    for line in dumped.splitlines():
        if line.startswith("\\") or line.startswith(f"CREATE SCHEMA {schema}"):
            continue  # psql meta-commands (\restrict) and the schema, which the test made
        if "set_config('search_path'" in line:
            continue
        kept.append(line)
    return re.sub(rf"\b{schema}\b", _PLACEHOLDER, "\n".join(kept))


def _search_path(url: str) -> str | None:
    options = make_url(url).query.get("options")
    value = options if isinstance(options, str) else None
    match = re.search(r"search_path=([A-Za-z0-9_]+)", unquote(value or ""))
    return match.group(1) if match else None


def _has_tables(url: str) -> bool:
    engine = create_engine(url)
    try:
        return bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()
