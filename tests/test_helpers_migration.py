"""Migration 0009: free-text helper names become helpers and assignments, none lost.

Rows are written at revision 0008 as the old code wrote them (plain SQL), then the
database is upgraded; on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from bot.services import MIGRATIONS

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
_ids = count(1)


def _migrate(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)


def _insert(conn: Connection, table: str, **values: Any) -> int:
    names = ", ".join(values)
    marks = ", ".join(f":{n}" for n in values)
    return int(
        conn.execute(
            text(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id"),  # noqa: S608
            values,
        ).scalar_one()
    )


def _household(conn: Connection, village: str) -> int:
    n = next(_ids)
    return _insert(conn, "household", id_hash=f"hash{n}", id_cipher="x",
                   head_name=f"户主{n}", village_code=village, category="general",
                   created_at=AT, updated_at=AT)  # fmt: skip


def _enrolment(conn: Connection, township: str, village: str, household: int | None,
               helper: str, at: datetime = AT) -> None:  # fmt: skip
    n = next(_ids)
    item = _insert(conn, "queue_item", kind="application", status="enrolled",
                   tracking_code=f"M{n:07d}", region_code=township, township_code=township,
                   village_code=village, fast_track=False, created_at=at,
                   updated_at=at)  # fmt: skip
    _insert(conn, "enrollment", queue_item_id=item, household_id=household, risk_codes="01",
            helper_name=helper, enrolled_by="user:1", enrolled_at=at)  # fmt: skip


def test_helper_names_become_helpers_and_assignments(database_url: str) -> None:
    _migrate(database_url, "0008_reports")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        a1, a2 = _household(conn, "gangkou-bailing"), _household(conn, "gangkou-bailing")
        b1 = _household(conn, "gangkou-hengling")
        kept = _household(conn, "gangkou-bailing")
        again = _household(conn, "gangkou-bailing")
        far = _household(conn, "boluo-sample-a")
        _enrolment(conn, "gangkou", "gangkou-bailing", a1, "李四")
        _enrolment(conn, "gangkou", "gangkou-bailing", a2, "李四")
        _enrolment(conn, "gangkou", "gangkou-hengling", b1, " 李四 ")
        _enrolment(conn, "gangkou", "gangkou-bailing", None, "王五")  # no household row
        _enrolment(conn, "gangkou", "gangkou-bailing", None, "   ")  # no name at all
        _enrolment(conn, "boluo", "boluo-sample-a", far, "李四")
        # A helper from before (a roster import) with a household already assigned.
        zhao = _insert(conn, "helper", name="赵六", region_code="gangkou",
                       township_code="gangkou", village_code=None, state="active",
                       created_at=AT, updated_at=AT)  # fmt: skip
        _insert(conn, "helper_assignment", household_id=kept, helper_id=zhao, started_at=AT,
                ended_at=None, actor="roster")  # fmt: skip
        _enrolment(conn, "gangkou", "gangkou-bailing", kept, "李四")  # keeps 赵六
        # Enrolled twice: the later enrolment's helper is the household's.
        _enrolment(conn, "gangkou", "gangkou-bailing", again, "李四")
        _enrolment(conn, "gangkou", "gangkou-bailing", again, "赵六", at=AT.replace(month=4))
    _migrate(database_url, "heads")
    with engine.connect() as conn:
        helpers = conn.execute(
            text("SELECT id, name, township_code, village_code FROM helper ORDER BY id")
        ).all()
        open_rows = text(
            "SELECT household_id, helper_id FROM helper_assignment WHERE ended_at IS NULL"
        )
        current = {int(h): int(k) for h, k in conn.execute(open_rows).all()}
        events = conn.execute(
            text("SELECT action, subject_kind, actor FROM audit_event ORDER BY id")
        ).all()
        names = conn.execute(text("SELECT helper_name FROM enrollment ORDER BY id")).scalars()
        assert list(names)[:2] == ["李四", "李四"], "enrolments keep their names as written"
        assert conn.execute(text("SELECT count(*) FROM help_review")).scalar_one() == 0
    engine.dispose()
    by_place = {(h.township_code, h.name): h for h in helpers}
    assert sorted(by_place) == [("boluo", "李四"), ("gangkou", "李四"), ("gangkou", "王五"),
                                ("gangkou", "赵六")]  # fmt: skip
    assert len(helpers) == 4, "one helper per name and township, the old one reused"
    li = by_place[("gangkou", "李四")]
    assert li.village_code is None, "李四 helps in two villages: placed in the township"
    assert by_place[("gangkou", "王五")].village_code == "gangkou-bailing"
    assert by_place[("boluo", "李四")].village_code == "boluo-sample-a"
    assert current[a1] == current[a2] == current[b1] == li.id
    assert current[far] == by_place[("boluo", "李四")].id
    assert current[kept] == zhao, "an existing assignment is kept"
    assert current[again] == zhao, "the latest enrolment wins"
    made = [e for e in events if e.actor == "migration:0009"]
    assert sorted(e.action for e in made) == ["helper.assigned"] * 5 + ["helper.created"] * 3
