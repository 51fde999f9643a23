"""The schema the cadre pages stand on: one line of Alembic migrations, and a database
migrated while 0002 and 0003 were two branches still upgrades. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from bot.services import MIGRATIONS, Services, upgrade

HEAD = "0012_visit_files"


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_migrations_have_exactly_one_head() -> None:
    script = _script()
    assert script.get_heads() == [HEAD]
    chain = [rev.revision for rev in script.walk_revisions()]
    assert chain == [
        HEAD,
        "0011_helper_names",
        "0010_user_links",
        "0009_report_search",
        "0008_reports",
        "0007_helpers",
        "0006_sms",
        "0005",
        "0004",
        "0003_cadre",
        "0002_attachments",
        "0001",
    ]


def test_a_database_migrated_with_two_heads_still_upgrades(services: Services) -> None:
    with services.db.engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            HEAD
        ]
        # What `upgrade heads` recorded while 0002 and 0003 both followed 0001.
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0002_attachments')"))
    upgrade(services.db.url)
    with services.db.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [HEAD]
    assert "attachment" in inspect(services.db.engine).get_table_names()
