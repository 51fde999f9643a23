"""Development mode: ``serve --telegram-polling`` reads getUpdates through the same path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import FakeClock
from fakes.telegram_api import FakeTelegram
from sqlmodel import col, select
from telegram_support import TelegramRig, telegram_settings, wait_until

from bot import inbound
from bot.config import Settings


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def test_polling_answers_in_update_order_and_confirms_only_what_it_stored(
    settings: Settings, clock: FakeClock, tg: FakeTelegram
) -> None:
    tg.set_webhook_error(None)

    def offsets() -> list[int | None]:
        return [c.params.get("offset") for c in tg.calls_for("getUpdates")]

    polling = telegram_settings(settings, tg, telegram_polling=True)
    for update_id, text in ((502, "甲"), (500, "/start"), (501, "帮助")):  # out of order
        update = tg.user_message(6601, text, queue=False)
        tg.queue_update({**update, "update_id": update_id})
    tg.queue_update({**tg.user_message(6602, "/start", queue=False), "update_id": 503})
    with TelegramRig(polling, clock, tg) as rig:
        wait_until(lambda: len(tg.sent_messages(6602)) == 2 and not tg.pending_updates, 20)
        rig.settle()
        with rig.services.db.read() as db:
            rows = db.exec(
                select(inbound.InboundMessage)
                .where(inbound.InboundMessage.sender == "6601")
                .order_by(col(inbound.InboundMessage.id))
            ).all()
        assert [r.sequence for r in rows] == [500, 501, 502]  # stored and answered in order
        texts = tg.sent_texts(6601)
        assert texts[:2] == [
            "您好！这里是防返贫监测服务。家里遇到大病、灾害、意外等困难，可以在这里申请监测帮扶。",
            "请选择您要办的事：",
        ]
        assert len(texts) == 6
        assert tg.calls_for("deleteWebhook") and len(tg.calls_for("setMyCommands")) == 2
        tg.queue_update({**tg.user_message(6601, "/start", queue=False), "update_id": 504})
        wait_until(lambda: len(tg.sent_texts(6601)) == 7, 20)
        wait_until(lambda: 505 in offsets(), 20)
    assert 504 in offsets() and 505 in offsets()  # confirmed only after storing


def test_polling_skips_an_unreadable_update_and_goes_on(
    settings: Settings, clock: FakeClock, tg: FakeTelegram
) -> None:
    tg.queue_update({"update_id": 700, "callback_query": {"id": "9", "data": 5}})
    tg.queue_update({**tg.user_message(6603, "/start", queue=False), "update_id": 701})
    with TelegramRig(telegram_settings(settings, tg, telegram_polling=True), clock, tg):
        wait_until(lambda: len(tg.sent_messages(6603)) == 2, 20)
        wait_until(lambda: 702 in [c.params.get("offset") for c in tg.calls_for("getUpdates")])


def test_a_poison_update_never_stops_polling(
    settings: Settings, clock: FakeClock, tg: FakeTelegram
) -> None:
    poison = tg.user_message(6604, "/start", queue=False)
    poison["message"]["chat"]["id"] = [6604]  # unhashable: the whole batch failed, again and again
    tg.queue_update({**poison, "update_id": 800})
    huge = tg.user_message(6605, "/start", queue=False)
    huge["message"]["chat"]["id"] = 2**64  # beyond 64 bits: refused like the webhook refuses it
    tg.queue_update({**huge, "update_id": 801})
    tg.queue_update({**tg.user_message(6606, "/start", queue=False), "update_id": 802})
    with TelegramRig(telegram_settings(settings, tg, telegram_polling=True), clock, tg) as rig:
        wait_until(lambda: len(tg.sent_messages(6606)) == 2, 20)
        wait_until(lambda: 803 in [c.params.get("offset") for c in tg.calls_for("getUpdates")])
        with rig.services.db.read() as db:
            senders = db.exec(select(inbound.InboundMessage.sender)).all()
    assert senders == ["6606"]
