"""Outbox dispatch through python-telegram-bot to a fake Bot API: every fault, never twice."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from conftest import FakeClock
from fakes.telegram_api import FakeTelegram
from sqlmodel import select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.channels.telegram_sender import TelegramSender
from bot.services import Services
from intake.contacts import Contact, get_or_create_contact
from notifications import claims
from notifications.dispatcher import Dispatcher
from notifications.outbox import OutboxMessage, OutboxStatus, Priority, enqueue
from notifications.ratelimit import Limits

CHAT = 7301
FAST = Limits(per_second=200, per_recipient_interval=0.0)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram(timeout_hold=5) as tg:
        yield tg


@pytest.fixture
def tg(server: FakeTelegram) -> Iterator[FakeTelegram]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    request = HTTPXRequest(read_timeout=0.5, connect_timeout=1, connection_pool_size=8)
    async with Bot(tg.token, base_url=tg.base_url, request=request) as started:
        yield started


@pytest.fixture
def dispatcher(services: Services, bot: Bot) -> Dispatcher:
    return Dispatcher(
        services.db, {"telegram": TelegramSender(bot)}, now=services.clock, limits=FAST
    )


def queue(
    services: Services,
    text: str,
    chat: int = CHAT,
    buttons: list[dict[str, str]] | None = None,
    priority: Priority = Priority.INTERACTIVE,
) -> int:
    with services.db.write() as db:
        contact = get_or_create_contact(db, "telegram", str(chat), language="zh_CN")
        row = enqueue(
            db,
            channel="telegram",
            recipient=str(chat),
            contact_id=contact.id,
            payload={"text": text, "buttons": buttons or []},
            priority=priority,
            now=services.clock(),
        )
        assert row is not None
        db.flush()
        assert row.id is not None
        return row.id


def row(services: Services, row_id: int) -> OutboxMessage:
    with services.db.read() as db:
        found = db.get(OutboxMessage, row_id)
        assert found is not None
        return found


def contact(services: Services, chat: int = CHAT) -> Contact:
    with services.db.read() as db:
        return db.exec(select(Contact).where(Contact.external_id == str(chat))).one()


async def test_a_message_goes_out_html_escaped_with_its_keyboard(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram
) -> None:
    sent = queue(services, "户主：<王> & 李", buttons=[{"label": "是", "data": "q:yes"}])
    assert await dispatcher.run_once() == 1
    call = tg.sent_messages(CHAT)[0]
    assert call.params["text"] == "户主：&lt;王&gt; &amp; 李"
    assert call.params["parse_mode"] == "HTML"
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    assert keyboard == [[{"text": "是", "callback_data": "q:yes"}]]
    assert row(services, sent).status == OutboxStatus.SENT


async def test_a_5xx_is_retried_with_backoff_and_delivered_once(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.fail_next("sendMessage", "5xx")
    sent = queue(services, "一")
    await dispatcher.run_once()
    first = row(services, sent)
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 1)
    assert "Bad Gateway" in (first.last_error or "") and first.next_attempt_at > clock()
    assert await dispatcher.run_once() == 0  # not due yet
    clock.advance(minutes=10)
    await dispatcher.run_once()
    assert row(services, sent).status == OutboxStatus.SENT
    assert tg.sent_texts(CHAT) == ["一"]


async def test_retries_stop_at_the_cap(
    services: Services, bot: Bot, tg: FakeTelegram, clock: FakeClock
) -> None:
    from notifications.dispatcher import RetryPolicy

    capped = Dispatcher(
        services.db,
        {"telegram": TelegramSender(bot)},
        now=services.clock,
        limits=FAST,
        retry=RetryPolicy(max_attempts=3),
    )
    tg.fail_next("sendMessage", "5xx", count=3)
    sent = queue(services, "一")
    for _ in range(3):
        await capped.run_once()
        clock.advance(hours=1)
    failed = row(services, sent)
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 3)
    assert tg.sent_messages(CHAT) == []


async def test_retry_after_is_honoured_and_does_not_count_as_an_attempt(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.fail_next("sendMessage", "429", retry_after=1)
    sent = queue(services, "一")
    later = queue(services, "二")
    await dispatcher.run_once()
    waiting = row(services, sent)
    assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, 0)
    assert waiting.next_attempt_at == clock() + timedelta(seconds=1)
    assert row(services, later).next_attempt_at == waiting.next_attempt_at  # kept behind it
    assert dispatcher.pacers["telegram"].channel_ready_at() > 0
    clock.advance(seconds=2)
    await dispatcher.run_once()
    assert tg.sent_texts(CHAT) == ["一", "二"]


async def test_a_blocked_chat_stops_the_contact_and_is_not_retried(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.block_chat(CHAT)
    first, second = queue(services, "一"), queue(services, "二")
    await dispatcher.run_once()
    assert row(services, first).status == OutboxStatus.STOPPED
    assert "blocked" in (row(services, first).last_error or "")
    assert row(services, second).status == OutboxStatus.STOPPED
    assert contact(services).stopped_at == clock()
    third = queue(services, "三")  # e.g. a reminder written later
    clock.advance(hours=1)
    await dispatcher.run_once()
    assert row(services, third).status == OutboxStatus.STOPPED
    assert len(tg.calls_for("sendMessage")) == 1


async def test_a_bad_request_is_failed_with_the_reason_and_never_retried(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.fail_next("sendMessage", "400", description="chat not found")
    sent = queue(services, "一")
    await dispatcher.run_once()
    clock.advance(hours=1)
    await dispatcher.run_once()
    failed = row(services, sent)
    assert failed.status == OutboxStatus.FAILED
    assert failed.last_error == "BadRequest: Chat not found"
    assert len(tg.calls_for("sendMessage")) == 1


async def test_a_read_timeout_after_sending_is_never_sent_again(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.fail_next("sendMessage", "timeout", hold=2, deliver=True)  # Telegram did deliver it
    sent = queue(services, "一", priority=Priority.NOTICE)  # a reply would be sent again
    await dispatcher.run_once()
    tg.release_held()
    await tg.wait_for(lambda: tg.sent_messages(CHAT))
    lost = row(services, sent)
    assert lost.status == OutboxStatus.UNKNOWN
    assert "may have been delivered" in (lost.last_error or "")
    clock.advance(hours=1)
    dispatcher.recover()
    await dispatcher.run_once()
    assert tg.sent_texts(CHAT) == ["一"]


async def test_a_gateway_timeout_answer_is_retried(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.fail_next("sendMessage", "timeout", hold=0.05)  # Telegram answers 504, did nothing
    sent = queue(services, "一")
    await dispatcher.run_once()
    assert row(services, sent).status == OutboxStatus.PENDING
    clock.advance(hours=1)
    await dispatcher.run_once()
    assert tg.sent_texts(CHAT) == ["一"]


async def test_a_refused_connection_is_retried(services: Services) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    request = HTTPXRequest(connect_timeout=1, read_timeout=1)
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    dead = Dispatcher(services.db, {"telegram": TelegramSender(bot)}, now=services.clock)
    sent = queue(services, "一")
    try:
        await dead.run_once()
    finally:
        await request.shutdown()
    waiting = row(services, sent)
    assert waiting.status == OutboxStatus.PENDING and "ConnectError" in (waiting.last_error or "")


async def test_a_crash_mid_send_is_marked_unknown_and_a_crash_before_is_resent(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    sending = queue(services, "发送中", priority=Priority.NOTICE)  # a reply is sent again
    claimed = queue(services, "已认领")
    with services.db.write() as db:  # a worker claims both, starts one send, then dies
        rows = claims.claim(
            db, worker="dead", channel="telegram", now=clock(), limit=10,
            lease=timedelta(minutes=5), use_skip_locked=not services.db.is_sqlite,
        )  # fmt: skip
        assert sorted(r.id for r in rows) == [sending, claimed]
        assert claims.mark_sending(
            db, row_id=sending, worker="dead", now=clock(), lease=timedelta(minutes=5)
        )
    assert await dispatcher.run_once() == 0  # leases still held: nobody touches them
    clock.advance(minutes=6)
    assert dispatcher.recover() == 2
    await dispatcher.run_once()
    assert row(services, sending).status == OutboxStatus.UNKNOWN
    assert row(services, claimed).status == OutboxStatus.SENT
    assert tg.sent_texts(CHAT) == ["已认领"]


async def test_a_long_text_goes_in_parts_with_the_keyboard_under_the_last(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram
) -> None:
    text = "\n".join(f"第{n}行：这一行是说明文字，用来把消息撑长。" for n in range(400))
    sent = queue(services, text, buttons=[{"label": "好", "data": "q:ok"}])
    await dispatcher.run_once()
    parts = tg.sent_messages(CHAT)
    assert len(parts) == 3 and all(len(c.params["text"]) <= 4096 for c in parts)
    assert "\n".join(c.params["text"] for c in parts) == text
    assert [("reply_markup" in c.params) for c in parts] == [False, False, True]
    assert row(services, sent).status == OutboxStatus.SENT


async def test_a_retry_resumes_after_the_last_part_delivered(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, clock: FakeClock
) -> None:
    text = "说明。" * 2000  # two parts
    sent = queue(services, text)
    tg.per_chat_per_second = 1  # the second part, sent at once, gets a 429
    try:
        await dispatcher.run_once()
        waiting = row(services, sent)
        assert waiting.status == OutboxStatus.PENDING and waiting.payload["parts_sent"] == 1
        clock.advance(seconds=2)
        await dispatcher.run_once()
    finally:
        tg.per_chat_per_second = None
    assert [c.status for c in tg.calls_for("sendMessage")] == [200, 429, 200]
    assert "".join(tg.sent_texts(CHAT)) == text
    assert row(services, sent).status == OutboxStatus.SENT


async def test_marking_a_tapped_keyboard_twice_is_harmless(
    services: Services, dispatcher: Dispatcher, tg: FakeTelegram, bot: Bot
) -> None:
    message = await bot.send_message(CHAT, "问题？", reply_markup=None)
    for _ in range(2):
        with services.db.write() as db:
            enqueue(
                db, channel="telegram", recipient=str(CHAT), priority=Priority.INTERACTIVE,
                payload={"edit": {"message_id": message.message_id, "html": "问题？\n\n☑ 是"}},
                now=services.clock(),
            )  # fmt: skip
        await dispatcher.run_once()
    edits = tg.calls_for("editMessageText")
    assert [c.ok for c in edits] == [True, False]  # Telegram: "message is not modified"
    with services.db.read() as db:
        statuses = db.exec(select(OutboxMessage.status)).all()
    assert statuses == ["sent", "sent"]
