"""The composition root: builds the object graph once from :class:`~bot.config.Settings`.

Only this module (and the CLI and app factory that call it) knows how the layers fit:
intake's records, notifications' outbox and dispatcher, bot's engine and channels.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config

from bot import effect_kinds
from bot.channels.registry import outbox_channels
from bot.config import Settings
from bot.conversation import Conversations
from bot.dialogs import DIALOGS
from bot.effects import Effects
from bot.engine import Engine
from intake.columns import utcnow
from intake.crypto import FieldCipher
from intake.db import Database, import_models
from intake.identity import RedactingFilter
from intake.policy import Policy, load_policies
from intake.tracking import new_tracking_code
from intake.workdays import WorkdayCalendar

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class Services:
    """Everything a channel or a command needs, built once."""

    settings: Settings
    db: Database
    cipher: FieldCipher
    policies: dict[str, Policy]
    default_policy: Policy
    calendar: WorkdayCalendar
    effects: Effects
    engine: Engine
    conversations: Conversations
    clock: Callable[[], datetime]


def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
    migrate: bool = True,
) -> Services:
    """Wire the application. ``rng`` seeds tracking codes (tests); ``clock`` fakes time."""
    import_models()
    cipher = FieldCipher(settings.resolved_secret("secret_key"))
    db = Database(settings.resolved_database_url(), sealer=cipher)
    if migrate:
        upgrade(db.url)
    available = load_policies(settings.policy_dir)
    missing = [code for code in settings.region_codes() if code not in available]
    if missing or not settings.region_codes():
        raise ValueError(f"HOTLINE_REGIONS names regions without a policy file: {missing}")
    policies = {code: available[code] for code in settings.region_codes()}
    default = policies[settings.region_codes()[0]]
    calendar = WorkdayCalendar()
    effects = Effects(
        policies=policies,
        default_policy=default,
        cipher=cipher,
        calendar=calendar,
        new_code=lambda: new_tracking_code(rng),
        handlers=effect_kinds.HANDLERS,
    )
    engine = Engine(DIALOGS)
    conversations = Conversations(
        db,
        engine,
        effects,
        session_ttl=timedelta(days=settings.session_ttl_days),
        clock=clock,
        outbox_channels=outbox_channels(),
    )
    return Services(
        settings, db, cipher, policies, default, calendar, effects, engine, conversations, clock
    )


def upgrade(database_url: str) -> None:
    """Apply every Alembic migration to ``database_url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "heads")


class SecretsFilter(logging.Filter):
    """Replaces given secrets (the bot token: PTB and httpx put it in request URLs)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        """Run after :class:`RedactingFilter`, which has formatted the record's message."""
        for secret in self.secrets:
            record.msg = str(record.msg).replace(secret, "<secret>")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "<secret>")
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr with ID numbers, phone numbers and ``secrets`` masked in every record.

    httpx logs every request's URL at INFO, and Bot API URLs carry the bot token: its
    logger is held at WARNING whatever ``level`` says (the filter is a second guard).
    """
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.addFilter(SecretsFilter(secrets))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
