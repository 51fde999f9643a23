"""The provider's pushes over real HTTP: delivery reports recorded, TD honoured end to end."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from conftest import FakeClock, LiveServer
from fakes.sms_gateway import FakeAliyunSms
from fastapi import FastAPI
from sms_support import OTHER_PHONE, PHONE, SmsWorld, make_world, queue, sender_for
from sqlmodel import col, select

from notifications.dispatcher import Dispatcher
from notifications.outbox import OutboxMessage
from notifications.ratelimit import Limits
from notifications.sender import Delivered
from notifications.sms import records, sms_router

TOKEN = "sms-push-token-0123456789"
FAST = Limits(per_second=50, per_recipient_interval=0.0)


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> Iterator[SmsWorld]:
    built = make_world(database_url, clock)
    yield built
    built.db.dispose()


@pytest.fixture
def gateway() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as gw:
        yield gw


@pytest.fixture
def url(world: SmsWorld) -> Iterator[str]:
    app = FastAPI()
    app.include_router(sms_router(world.db, world.cipher, token=TOKEN, now=world.clock))
    with LiveServer(app) as live:
        yield f"{live.url}/channels/sms"


def dispatcher(world: SmsWorld, gateway: FakeAliyunSms) -> Dispatcher:
    sender = sender_for(world, gateway)
    return Dispatcher(world.db, {"sms": sender}, limits=FAST, now=world.clock)


def statuses(world: SmsWorld) -> list[str]:
    with world.db.read() as db:
        return [r.status for r in db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))]


def receipt(world: SmsWorld, biz_id: str | None) -> records.SmsReceipt:
    assert biz_id is not None
    with world.db.read() as db:
        found = records.receipt(db, biz_id)
    assert found is not None
    return found


async def test_delivery_reports_are_recorded_by_biz_id(
    world: SmsWorld, gateway: FakeAliyunSms, url: str
) -> None:
    queue(world, ref="application:12")
    queue(world, phone=OTHER_PHONE, template="visit_reminder", params={})
    assert await dispatcher(world, gateway).run_once() == 2
    assert statuses(world) == ["sent", "sent"]
    delivered, failed = gateway.accepted(PHONE), gateway.accepted(OTHER_PHONE)
    answer = gateway.push_reports(f"{url}/receipts?token={TOKEN}", delivered)
    assert answer.json() == {"code": 0, "msg": "接收成功"}
    gateway.push_reports(f"{url}/receipts?token={TOKEN}", failed, success=False, err_code="MK:0004")
    ok = receipt(world, delivered[0].biz_id)
    assert (ok.status, ok.template, ok.ref, ok.err_code) == (
        "delivered",
        "application_received",
        "application:12",
        "DELIVERED",
    )
    assert ok.reported_at is not None
    bad = receipt(world, failed[0].biz_id)
    assert (bad.status, bad.template, bad.err_code) == ("failed", "visit_reminder", "MK:0004")


async def test_a_report_that_outruns_the_send_is_kept(
    world: SmsWorld, gateway: FakeAliyunSms, url: str
) -> None:
    biz_id = gateway.next_biz_id
    early = [{"biz_id": biz_id, "success": True, "err_code": "DELIVERED"}]
    async with httpx.AsyncClient() as http:
        pushed = await http.post(f"{url}/receipts?token={TOKEN}", json=early)
    assert pushed.status_code == 200
    sender = sender_for(world, gateway)
    row = queue(world)
    outcome = await sender.send(row.recipient, row.payload)
    await sender.client.aclose()
    assert outcome == Delivered(biz_id)
    kept = receipt(world, biz_id)
    assert (kept.status, kept.template) == ("delivered", "application_received")


async def test_a_td_reply_stops_every_sms_to_that_phone_until_it_subscribes_again(
    world: SmsWorld, gateway: FakeAliyunSms, url: str, clock: FakeClock
) -> None:
    uplink = f"{url}/uplink?token={TOKEN}"
    replied = clock().timestamp()
    assert gateway.push_uplink(uplink, PHONE, " td ", sent_at=replied).json()["code"] == 0
    queue(world)
    queue(world)
    queue(world, phone=OTHER_PHONE)
    await dispatcher(world, gateway).run_once()
    assert statuses(world) == ["stopped", "stopped", "sent"]
    assert gateway.accepted(PHONE) == []

    gateway.push_uplink(uplink, PHONE, "订阅", sent_at=replied + 60)
    gateway.push_uplink(uplink, PHONE, "退订", sent_at=replied + 30)  # older: arrives late
    clock.advance(minutes=5)
    queue(world)
    await dispatcher(world, gateway).run_once()
    assert statuses(world)[-1] == "sent"
    assert len(gateway.accepted(PHONE)) == 1


async def test_a_reply_that_is_no_keyword_changes_nothing(
    world: SmsWorld, gateway: FakeAliyunSms, url: str
) -> None:
    gateway.push_uplink(f"{url}/uplink?token={TOKEN}", PHONE, "请问我的申请什么时候有结果")
    with world.db.read() as db:
        assert not records.is_opted_out(db, world.cipher.lookup_hash(PHONE))


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("TD", "out"),
        ("t", "out"),
        ("退订", "out"),
        ("ＴＤ。", "out"),
        ("我要退订短信", "out"),
        ("0000", "out"),
        ("订阅", "in"),
        ("开通", "in"),
        ("好的", None),
        ("Thanks", None),
    ],
)
def test_replies_are_read_as_unsubscribe_or_subscribe(text: str, choice: str | None) -> None:
    assert records.classify_reply(text) == choice


def test_pushes_without_the_token_or_with_a_bad_body_get_a_polite_answer(
    world: SmsWorld, url: str
) -> None:
    no_token = httpx.post(f"{url}/receipts", json=[])
    assert no_token.status_code == 401
    assert no_token.json()["msg"].startswith("令牌不对")
    wrong = httpx.post(f"{url}/uplink?token=nope", json=[])
    assert wrong.status_code == 401
    garbage = httpx.post(f"{url}/receipts?token={TOKEN}", content=b"{not json")
    assert garbage.status_code == 400
    assert "JSON" in garbage.json()["msg"]
    mixed = [{"biz_id": "1^0", "success": True}, {"success": "maybe"}]
    assert httpx.post(f"{url}/receipts?token={TOKEN}", json=mixed).json()["code"] == 0
    assert receipt(world, "1^0").status == "delivered"


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,  # nesting past the recursion limit
        b'[{"biz_id": "\\ud800", "success": true}]',  # a lone surrogate
        b'[{"biz_id": "1^0", "err_code": ' + b"9" * 5000 + b"}]",  # a 5,000-digit number
        b'[{"biz_id": "1^0", "report_time": NaN}]',
    ],
)
def test_hostile_push_bodies_get_a_polite_400_never_a_500(
    world: SmsWorld, url: str, body: bytes
) -> None:
    answer = httpx.post(f"{url}/receipts?token={TOKEN}", content=body)
    assert answer.status_code == 400
    assert "JSON" in answer.json()["msg"]


def test_no_phone_number_reaches_the_logs(
    world: SmsWorld, gateway: FakeAliyunSms, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.push_uplink(f"{url}/uplink?token={TOKEN}", PHONE, "TD")
    gateway.push_uplink(f"{url}/uplink?token={TOKEN}", OTHER_PHONE, "你好 13800138000")
    bad = [{"phone_number": PHONE}]  # no content: skipped, logged by position only
    httpx.post(f"{url}/uplink?token={TOKEN}", json=bad)
    assert "SMS replies" in caplog.text
    assert PHONE not in caplog.text and OTHER_PHONE not in caplog.text
    with world.db.read() as db:
        assert records.is_opted_out(db, world.cipher.lookup_hash(PHONE))


def test_the_daily_count_keeps_no_phone(world: SmsWorld, clock: FakeClock) -> None:
    with world.db.write() as db:
        assert records.reserve(db, world.cipher.lookup_hash(PHONE), clock().date(), 1)
    with world.db.engine.connect() as conn:
        dumped = str(list(conn.exec_driver_sql("SELECT * FROM sms_daily_count")))
    assert PHONE not in dumped
