"""Helpers for the report tests: a database migrated to the reports revision, users of
every level, and drafts filed as the chat, the hotline or a letter would."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from alembic import command
from alembic.config import Config
from conftest import TEST_SECRET, FakeClock
from sqlmodel import SQLModel

from bot.services import MIGRATIONS
from intake.crypto import FieldCipher
from intake.db import Database, import_models
from intake.policy import Policy, load_policies
from intake.reports import MODEL_MODULES
from intake.reports.filing import ReportDraft, Reporter, file_report
from intake.reports.kinds import ReportRules, report_rules
from intake.reports.models import Report
from intake.tracking import new_tracking_code
from intake.users import Role, User, _place
from intake.workdays import WorkdayCalendar

VILLAGE = "gangkou-bailing"
OTHER_VILLAGE = "gangkou-hengling"
PHONE = "13800138000"
ID_NUMBER = "11010519491231002X"
#: Free text that must come back exactly as typed, never run.
XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>=HYPERLINK("http://x")'


@dataclass
class ReportWorld:
    """A migrated database, the cipher, the clock, gangkou's policy and a user per level."""

    db: Database
    cipher: FieldCipher
    clock: FakeClock
    policies: dict[str, Policy]
    calendar: WorkdayCalendar
    users: dict[str, User] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(8))

    @property
    def policy(self) -> Policy:
        return self.policies["gangkou"]

    @property
    def rules(self) -> ReportRules:
        return report_rules(self.policy)

    def new_code(self) -> str:
        return new_tracking_code(self.rng)

    def file(self, draft: ReportDraft, **kwargs: Any) -> Report:
        with self.db.write() as session:
            return file_report(
                session,
                draft,
                policy=self.policy,
                rules=self.rules,
                cipher=self.cipher,
                calendar=self.calendar,
                new_code=self.new_code,
                now=self.clock(),
                **kwargs,
            )


def migrate(database_url: str, revision: str = "0008_reports") -> None:
    """Apply the migrations up to ``revision`` (and only along its own line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)


USERS = {
    "bailing": (Role.VILLAGE, VILLAGE),
    "hengling": (Role.VILLAGE, OTHER_VILLAGE),
    "township": (Role.TOWNSHIP, "gangkou"),
    "county": (Role.COUNTY, "gangkou"),
    "operator": (Role.OPERATOR, "gangkou"),
    "admin": (Role.ADMIN, None),
    "boluo_county": (Role.COUNTY, "boluo"),
}


def make_world(database_url: str, clock: FakeClock) -> ReportWorld:
    """A world with one user per entry of :data:`USERS` (username = key).

    The schema is made from the models in one go (quicker than every migration for each
    test); ``test_reports_schema`` holds migration 0008 equal to these models.
    """
    import_models(MODEL_MODULES)
    db = Database(database_url)
    SQLModel.metadata.create_all(db.engine)
    world = ReportWorld(db, FieldCipher(TEST_SECRET), clock, load_policies(), WorkdayCalendar())
    with world.db.write() as session:
        for name, (role, place) in USERS.items():
            # No password: these users never log in, and Argon2 per user would slow every test.
            region, township, village = _place(world.policies, role, place)
            user = User(
                username=name,
                display_name=name,
                password_hash="!",
                role=role.value,
                region_code=region,
                township_code=township,
                village_code=village,
            )
            session.add(user)
            session.flush()
            world.users[name] = user
    return world


def tip(**changes: Any) -> ReportDraft:
    """An anonymous tip about a household of :data:`VILLAGE`."""
    base: dict[str, Any] = {
        "kind": "tip",
        "village_code": VILLAGE,
        "subject": "household",
        "subject_name": "张大山",
        "text": "他家老人去年大病住院，欠了很多债。",
    }
    return ReportDraft(**(base | changes))


def complaint(subject: str = "cadre", **changes: Any) -> ReportDraft:
    """A complaint about :data:`VILLAGE`'s cadre (or committee, or the township)."""
    base: dict[str, Any] = {
        "kind": "complaint",
        "village_code": VILLAGE,
        "subject": subject,
        "subject_name": "李支书" if subject == "cadre" else None,
        "text": "评定的时候优亲厚友，把自己亲戚评上了。",
    }
    return ReportDraft(**(base | changes))


def named(contact_id: int | None = None, id_number: str | None = ID_NUMBER) -> Reporter:
    """A named reporter with a phone and (by default) an ID number."""
    return Reporter("王小红", PHONE, id_number=id_number, contact_id=contact_id)
