"""Helpers for the SMS tests: a sender wired to the fake gateway, rows queued as the app would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from conftest import TEST_SECRET, FakeClock
from fakes.sms_gateway import FakeAliyunSms

from bot.services import MIGRATIONS
from intake.crypto import FieldCipher
from intake.db import Database
from notifications.outbox import OutboxMessage
from notifications.sms import AliyunSmsClient, SmsSender, SmsTemplate, enqueue_sms

PHONE = "13800138000"
OTHER_PHONE = "13912345678"
SIGN = "防返贫热线"
TEMPLATES = {
    "application_received": SmsTemplate("SMS_100001", ("code",)),
    "visit_reminder": SmsTemplate("SMS_100002", ()),
}


@dataclass
class SmsWorld:
    """What the SMS channel needs: a migrated database, the field cipher, a fake clock."""

    db: Database
    cipher: FieldCipher
    clock: FakeClock


def make_world(database_url: str, clock: FakeClock) -> SmsWorld:
    """A database migrated up to the SMS revision (and only along its own line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0006_sms")
    return SmsWorld(Database(database_url), FieldCipher(TEST_SECRET), clock)


def client_for(gateway: FakeAliyunSms, **kwargs: Any) -> AliyunSmsClient:
    """A real client pointed at the fake gateway."""
    return AliyunSmsClient(
        gateway.access_key_id, gateway.access_key_secret, endpoint=gateway.endpoint, **kwargs
    )


def sender_for(
    services: SmsWorld, gateway: FakeAliyunSms, *, cap: int = 5, **client_kwargs: Any
) -> SmsSender:
    """The SMS sender on the test database and fake clock, talking to ``gateway``."""
    return SmsSender(
        client_for(gateway, **client_kwargs),
        services.db,
        services.cipher,
        sign_name=SIGN,
        templates=TEMPLATES,
        daily_cap=cap,
        now=services.clock,
    )


def queue(
    services: SmsWorld,
    *,
    phone: str = PHONE,
    template: str = "application_received",
    params: dict[str, str] | None = None,
    ref: str | None = None,
) -> OutboxMessage:
    """Queue one SMS in the outbox, as a notice would."""
    with services.db.write() as db:
        row = enqueue_sms(
            db,
            services.cipher,
            phone=phone,
            template=template,
            params={"code": "K7QD-3MXA"} if params is None else params,
            ref=ref,
            now=services.clock(),
        )
        assert row is not None
        db.flush()
        return row
