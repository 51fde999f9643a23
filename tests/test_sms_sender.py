"""The SMS sender over real HTTP against the fake gateway: templates, codes, the daily cap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import FakeClock
from fakes.sms_gateway import FakeAliyunSms
from sms_support import OTHER_PHONE, PHONE, SIGN, SmsWorld, make_world, queue, sender_for

from intake.db import Database
from notifications.sender import Delivered, Failed, RetryLater, Uncertain
from notifications.sms import records
from notifications.sms.sender import CONFIG_PAUSE, SmsSender

#: From 09:30 Beijing (the test clock's start) to 08:00 the next morning.
UNTIL_MORNING = 22.5 * 3600


@pytest.fixture
def gateway() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as gw:
        yield gw


@pytest.fixture
def services(database_url: str, clock: FakeClock) -> Iterator[SmsWorld]:
    world = make_world(database_url, clock)
    yield world
    world.db.dispose()


def used_today(services: SmsWorld, phone: str = PHONE) -> int:
    with services.db.read() as db:
        day = records.beijing_day(services.clock())
        return records.sent_on(db, services.cipher.lookup_hash(phone), day)


async def send_row(sender: SmsSender, services: SmsWorld, **kwargs: object) -> object:
    row = queue(services, **kwargs)  # type: ignore[arg-type]
    return await sender.send(row.recipient, row.payload)


async def test_a_notice_kind_goes_out_as_its_approved_template(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    sender = sender_for(services, gateway)
    outcome = await send_row(sender, services, ref="application:12")
    await sender.client.aclose()
    assert isinstance(outcome, Delivered) and outcome.external_id
    (call,) = gateway.accepted(PHONE)
    assert call.params["TemplateCode"] == "SMS_100001"
    assert call.params["SignName"] == SIGN
    assert call.template_params == {"code": "K7QD-3MXA"}
    with services.db.read() as db:
        receipt = records.receipt(db, outcome.external_id)
    assert receipt is not None
    assert (receipt.status, receipt.template, receipt.ref) == (
        "accepted",
        "application_received",
        "application:12",
    )
    assert receipt.phone_hash == services.cipher.lookup_hash(PHONE)
    assert used_today(services) == 1


async def test_free_text_and_unapproved_templates_are_refused_before_any_call(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    sender = sender_for(services, gateway)
    row = queue(services)
    free_text = {"phone": row.payload["phone"], "text": "您的申请已收到"}
    unknown = {**row.payload, "template": "marketing"}
    wrong_vars = {**row.payload, "params": {"name": "张三"}}
    outcomes = [await sender.send(row.recipient, p) for p in (free_text, unknown, wrong_vars)]
    await sender.client.aclose()
    assert all(isinstance(o, Failed) for o in outcomes)
    assert "free text" in outcomes[0].reason  # type: ignore[union-attr]
    assert gateway.calls == []
    assert used_today(services) == 0


async def test_a_row_whose_recipient_is_not_its_phone_is_refused(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    sender = sender_for(services, gateway)
    row = queue(services)
    outcome = await sender.send(services.cipher.lookup_hash(OTHER_PHONE), row.payload)
    await sender.client.aclose()
    assert isinstance(outcome, Failed) and gateway.calls == []


@pytest.mark.parametrize(
    ("code", "message", "expected", "flood", "after"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", RetryLater, False, 60.0),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", RetryLater, False, 3600.0),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", RetryLater, False, UNTIL_MORNING),
        ("isv.DAY_LIMIT_CONTROL", None, RetryLater, True, UNTIL_MORNING),
        ("isv.AMOUNT_NOT_ENOUGH", None, RetryLater, True, CONFIG_PAUSE),
        ("Throttling.User", None, RetryLater, True, 1.0),
        ("isp.SYSTEM_ERROR", None, RetryLater, False, 0.0),
        ("isv.MOBILE_NUMBER_ILLEGAL", None, Failed, False, 0.0),
        ("isv.TEMPLATE_PARAMS_ILLEGAL", None, Failed, False, 0.0),
        ("isv.SMS_TEMPLATE_ILLEGAL", None, Failed, False, 0.0),
    ],
)
async def test_each_documented_code_has_its_outcome_and_gives_the_slot_back(
    services: SmsWorld,
    gateway: FakeAliyunSms,
    code: str,
    message: str | None,
    expected: type,
    flood: bool,
    after: float,
) -> None:
    sender = sender_for(services, gateway)
    gateway.fail_next("code", code=code, message=message)
    outcome = await send_row(sender, services)
    await sender.client.aclose()
    assert isinstance(outcome, expected), outcome
    assert outcome.reason.startswith(code)  # type: ignore[union-attr]
    if isinstance(outcome, RetryLater):
        assert (outcome.flood, outcome.after) == (flood, after)
    assert used_today(services) == 0, "nothing went out: the day's slot is free again"


async def test_an_empty_balance_on_the_gateway_pauses_the_channel(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    gateway.balance = 0
    sender = sender_for(services, gateway)
    outcome = await send_row(sender, services)
    await sender.client.aclose()
    assert outcome == RetryLater(
        "isv.AMOUNT_NOT_ENOUGH: 账户余额不足", after=CONFIG_PAUSE, flood=True
    )


async def test_a_5xx_is_retried_and_an_unreadable_200_is_uncertain(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    sender = sender_for(services, gateway)
    gateway.fail_next("5xx", status=503)
    first = await send_row(sender, services)
    assert used_today(services) == 0
    gateway.fail_next("garbage")
    second = await send_row(sender, services)
    await sender.client.aclose()
    assert isinstance(first, RetryLater) and "503" in first.reason
    assert isinstance(second, Uncertain)
    assert used_today(services) == 1, "it may have gone: the slot stays used"


async def test_a_timeout_after_the_gateway_took_it_is_uncertain(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    sender = sender_for(services, gateway, timeout=0.3)
    gateway.fail_next("timeout", deliver=True)
    outcome = await send_row(sender, services)
    await sender.client.aclose()
    assert isinstance(outcome, Uncertain)
    assert len(gateway.accepted(PHONE)) == 1, "the gateway did take it: never send it again"
    assert used_today(services) == 1


async def test_a_refused_connection_is_retried(services: SmsWorld) -> None:
    with FakeAliyunSms() as gateway:
        pass  # stopped: its port refuses connections
    sender = sender_for(services, gateway)
    outcome = await send_row(sender, services)
    await sender.client.aclose()
    assert isinstance(outcome, RetryLater) and "not reached" in outcome.reason
    assert used_today(services) == 0


async def test_the_daily_cap_holds_until_the_next_beijing_morning(
    services: SmsWorld, gateway: FakeAliyunSms, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 25, 15, 50, tzinfo=UTC)  # 23:50 in Beijing
    sender = sender_for(services, gateway, cap=2)
    first = [await send_row(sender, services) for _ in range(3)]
    other = await send_row(sender, services, phone=OTHER_PHONE)
    clock.advance(minutes=20)  # 00:10 in Beijing, the next day
    after_midnight = await send_row(sender, services)
    await sender.client.aclose()
    assert [type(o) for o in first] == [Delivered, Delivered, RetryLater]
    assert first[2].after == 8 * 3600 + 10 * 60  # type: ignore[union-attr]
    assert isinstance(other, Delivered), "the cap is per phone"
    assert isinstance(after_midnight, Delivered), "a new Beijing day, a new allowance"
    assert len(gateway.accepted(PHONE)) == 3


async def test_two_senders_on_one_database_respect_the_cap_together(
    services: SmsWorld, gateway: FakeAliyunSms
) -> None:
    second_db = Database(services.db.url)  # another engine: as another process would
    try:
        one = sender_for(services, gateway, cap=3)
        two = sender_for(services, gateway, cap=3)
        two.db = second_db
        rows = [queue(services) for _ in range(10)]
        outcomes = await asyncio.gather(
            *(
                (one if n % 2 else two).send(row.recipient, row.payload)
                for n, row in enumerate(rows)
            )
        )
        await one.client.aclose()
        await two.client.aclose()
    finally:
        second_db.dispose()
    assert sum(isinstance(o, Delivered) for o in outcomes) == 3
    assert sum(isinstance(o, RetryLater) for o in outcomes) == 7
    assert len(gateway.accepted(PHONE)) == 3
    assert used_today(services) == 3


async def test_no_phone_number_reaches_the_logs(
    services: SmsWorld, gateway: FakeAliyunSms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = sender_for(services, gateway)
    await send_row(sender, services)
    gateway.fail_next("code", code="isv.AMOUNT_NOT_ENOUGH")
    await send_row(sender, services)
    await sender.client.aclose()
    assert caplog.records, "something was logged (httpx, the account error)"
    assert PHONE not in caplog.text
    assert "13800" not in caplog.text.replace(" ", "")
