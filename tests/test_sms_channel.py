"""SMS wired into the app: the dispatcher sends queued SMS through the gateway, the provider's
pushes land on the mounted routes, and the push token never reaches the access log."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import pytest
from conftest import FakeClock, LiveServer
from fakes.sms_gateway import FakeAliyunSms
from sms_support import PHONE, SIGN
from sqlmodel import select
from wechat_support import wait_until

from bot.app import create_app
from bot.config import Settings
from bot.services import Services, build_services
from notifications.outbox import OutboxMessage, OutboxStatus
from notifications.sms import enqueue_sms
from notifications.sms.models import SmsOptOut, SmsReceipt

TOKEN = "sms-push-token-0123456789"


class Lines(logging.Handler):
    """Keeps every formatted line of a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def gateway() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as fake:
        yield fake


@pytest.fixture
def wired(
    settings: Settings, clock: FakeClock, gateway: FakeAliyunSms
) -> Iterator[tuple[Services, LiveServer, Lines]]:
    configured = settings.model_copy(
        update={
            "sms_access_key_id": gateway.access_key_id,
            "sms_access_key_secret": gateway.access_key_secret,
            "sms_sign_name": SIGN,
            "sms_endpoint": gateway.endpoint,
            "sms_templates": '{"application_received": {"code": "SMS_100001", "params": ["code"]}}',
            "sms_push_token": TOKEN,
        }
    )
    services = build_services(configured, clock=clock, rng=random.Random(2026))
    live = LiveServer(create_app(configured, services))
    access = logging.getLogger("uvicorn.access")
    lines, level = Lines(), access.level
    access.addHandler(lines)
    access.setLevel(logging.INFO)  # the test server runs at WARNING; the real one logs access
    try:
        with live:
            yield services, live, lines
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
        services.db.dispose()


def test_a_queued_sms_is_sent_reported_and_td_honoured(
    wired: tuple[Services, LiveServer, Lines], gateway: FakeAliyunSms
) -> None:
    services, live, lines = wired
    with services.db.write() as db:
        enqueue_sms(
            db,
            services.cipher,
            phone=PHONE,
            template="application_received",
            params={"code": "K7QD-3MXA"},
            now=services.clock(),
        )
    gateway.wait_until(lambda: gateway.accepted(PHONE))
    (sent,) = gateway.accepted(PHONE)
    assert sent.template_params == {"code": "K7QD-3MXA"}
    receipts = f"{live.url}/channels/sms/receipts?token={TOKEN}"
    assert gateway.push_reports(receipts, [sent]).json()["code"] == 0
    opt_out = gateway.push_uplink(f"{live.url}/channels/sms/uplink?token={TOKEN}", PHONE, "TD")
    assert opt_out.json()["code"] == 0
    wait_until(lambda: status_of_the_row(services) == OutboxStatus.SENT)
    with services.db.read() as db:
        receipt = db.exec(select(SmsReceipt)).one()
        assert db.exec(select(SmsOptOut)).first() is not None
    assert receipt.biz_id == sent.biz_id
    assert lines.lines and all(TOKEN not in line for line in lines.lines)
    assert any("token=<redacted>" in line for line in lines.lines)


def status_of_the_row(services: Services) -> str:
    with services.db.read() as db:
        return str(db.exec(select(OutboxMessage)).one().status)
