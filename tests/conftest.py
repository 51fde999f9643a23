"""Shared fixtures: a database on both backends, a fake clock, services wired for tests.

Every test that takes ``database_url`` (or anything built on it) runs twice: on a fresh
SQLite file and on a fresh schema of the PostgreSQL server at 127.0.0.1:5432. Without a
reachable server the PostgreSQL runs are skipped with a visible reason, except under CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from db_template import Templates
from sqlalchemy import create_engine, text

from bot import services as services_module
from bot.config import Settings
from bot.services import Services, build_services

PG_SERVER = os.environ.get("HOTLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
#: A Wednesday morning in Beijing, far from holidays: 2026-11-25 09:30 +08:00.
START = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_SERVER, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


def _require_pg() -> None:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
    if not _PG_OK:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER} and CI is set")
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER}")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at its lightest for the tests (production keeps the library's defaults:
    about 0.27 s a hash on this machine, and the suite makes and checks passwords by the
    hundred). Hashes stay argon2id; only the cost differs."""
    from argon2 import PasswordHasher

    from intake import users

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    saved = users._HASHER, users._DUMMY_HASH
    users._HASHER, users._DUMMY_HASH = cheap, cheap.hash("dummy-password-for-timing")
    try:
        yield
    finally:
        users._HASHER, users._DUMMY_HASH = saved


@pytest.fixture(scope="session", autouse=True)
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """``build_services`` migrates a still-empty test database from a template migrated
    once per test process (:mod:`db_template`), not through the whole chain each time."""
    real = services_module.upgrade
    templates = Templates(tmp_path_factory.mktemp("templates"), real, PG_SERVER)
    services_module.upgrade = templates.upgrade
    try:
        yield templates
    finally:
        services_module.upgrade = real


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline.db'}"
        return
    _require_pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at :data:`START`."""
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at the test database, with fixed secrets."""
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=TEST_SECRET,
        webhook_secret="webhook-test-secret",
        _env_file=None,
    )


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    """The whole application graph on the test database, fake clock, seeded ids."""
    built = build_services(settings, clock=clock, rng=random.Random(2026))
    yield built
    built.db.dispose()


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment a ``hotline`` command sees, pointed at the test database."""
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("HOTLINE_SECRET_KEY", TEST_SECRET)
    monkeypatch.chdir(tmp_path)
    return Settings(_env_file=None)  # type: ignore[call-arg]


#: System catalogs that every CREATE/DROP SCHEMA of the suite churns.
_CATALOGS = ("pg_attribute", "pg_class", "pg_depend", "pg_type", "pg_index", "pg_constraint",
             "pg_attrdef", "pg_trigger", "pg_namespace", "pg_sequence", "pg_statistic")  # fmt: skip


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before a run (once, not in each xdist worker), vacuum the catalogs. Every test makes
    and drops a schema; runs' worth of them left pg_attribute with 1.6 million dead rows
    (autovacuum did not keep up) and made a whole run 50 % slower."""
    if hasattr(session.config, "workerinput") or not _pg_available():
        return
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("VACUUM " + ", ".join(f"pg_catalog.{t}" for t in _CATALOGS)))
    finally:
        admin.dispose()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-transcripts`` rewrites the golden dialog transcripts from a fresh run."""
    parser.addoption(
        "--update-transcripts",
        action="store_true",
        default=False,
        help="regenerate tests/transcripts/*.yaml instead of comparing against them",
    )


class LiveServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (an ephemeral port) in a thread."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
