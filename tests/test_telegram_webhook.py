"""The Telegram channel end to end over real HTTP: updates posted to the webhook as Telegram
posts them, replies read back from a fake Bot API, records read from the real database."""

from __future__ import annotations

import copy
import json
import logging
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import FakeClock
from db_outage import outage_for
from fakes.telegram_api import FakeTelegram
from sqlmodel import col, func, select
from telegram_support import (
    SECRET,
    WEBHOOK,
    Phone,
    TelegramRig,
    next_update_id,
    telegram_settings,
    wait_until,
)

from bot import inbound
from bot.config import Settings
from bot.services import configure_logging
from intake.applications import Application
from intake.attachments import Attachment, AttachmentKind, file_name_of
from intake.audit import AuditEvent
from intake.contacts import Contact
from intake.queue import QueueItem
from locales import translate

ID_NUMBER = "421223195803151230"
PHOTO = [
    {"file_id": "PHOTO-S", "file_unique_id": "PS", "width": 90, "height": 60, "file_size": 900},
    {"file_id": "PHOTO-L", "file_unique_id": "PL", "width": 1280, "height": 853, "file_size": 9e4},
]
VOICE = {"file_id": "VOICE-1", "file_unique_id": "V1", "duration": 7, "mime_type": "audio/ogg"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as tg:
        yield tg


@pytest.fixture
def tg(server: FakeTelegram) -> Iterator[FakeTelegram]:
    server.reset()
    yield server
    server.rate_limit_per_second = server.per_chat_per_second = None
    server.reset()


@pytest.fixture
def rig(settings: Settings, clock: FakeClock, tg: FakeTelegram) -> Iterator[TelegramRig]:
    with TelegramRig(telegram_settings(settings, tg), clock, tg) as running:
        yield running


def count(rig: TelegramRig, model: type) -> int:
    with rig.services.db.read() as db:
        return int(db.exec(select(func.count()).select_from(model)).one())


def apply_through_telegram(phone: Phone) -> None:
    """A whole self-application from a village poster's QR code, with a photo and a voice."""
    phone.say("/start v_gangkou-bailing")
    for data in ("choose:apply", "for_whom:self", "illness:yes"):
        phone.press(data)
    phone.say("3.5万")
    phone.say(photo=PHOTO, caption="住院发票")
    for step in ("disaster", "accident", "house", "school", "job", "business"):
        phone.press(f"{step}:no")
    phone.press("size:3")
    for typed in ("24000", "30000", "0"):
        phone.say(typed)
    for step in ("house", "car", "job", "business", "pension", "conduct"):
        phone.press(f"neg_{step}:no")
    for typed in ("王大山", ID_NUMBER, "13812345678"):
        phone.say(typed)
    phone.say(voice=VOICE)
    phone.press("consent:agree")
    phone.press("summary:confirm")


def test_a_villager_applies_through_telegram_and_redelivery_changes_nothing(
    rig: TelegramRig, tg: FakeTelegram
) -> None:
    phone = Phone(rig, 4501)
    apply_through_telegram(phone)

    texts = phone.texts()
    assert texts[0] == "已为您选好村：柏岭村。"
    assert "申请已提交" in texts[-2] and "接下来" in texts[-2]
    assert texts[-1] == "请选择您要办的事："
    assert "照片收到了" in " ".join(texts) and "语音收到了，村干部会听" in " ".join(texts)
    assert not any(ID_NUMBER in text for text in texts), "the ID number is shown masked only"
    assert all(call.params["parse_mode"] == "HTML" for call in phone.sent())
    presses = [u for u in phone.posted if "callback_query" in u]
    assert len(tg.calls_for("answerCallbackQuery")) == len(presses)
    marked = [c for c in tg.calls_for("editMessageText") if c.ok]
    assert len(marked) == len(presses)
    assert all("\n\n☑ " in c.params["text"] for c in marked)
    assert tg.message(4501, phone.message_with("summary:confirm")) is not None

    with rig.services.db.read() as db:
        application = db.exec(select(Application)).one()
        item = db.exec(select(QueueItem)).one()
        files = db.exec(select(Attachment).order_by(col(Attachment.id))).all()
        events = db.exec(select(AuditEvent).where(AuditEvent.subject_id == item.id)).all()
    assert application.status == "submitted" and application.village_code == "gangkou-bailing"
    assert application.queue_item_id == item.id and item.tracking_code in texts[-2]
    assert [(f.kind, f.file_id, f.queue_item_id) for f in files] == [
        (AttachmentKind.PHOTO, "PHOTO-L", item.id),
        (AttachmentKind.VOICE, "VOICE-1", item.id),
    ]
    assert [f.needs_listening for f in files] == [False, True]
    assert files[1].duration_seconds == 7 and files[0].caption_cipher != "住院发票"
    linked = [e for e in events if e.action == "attachments.linked"]
    assert [e.data for e in linked] == [{"photo": 1, "document": 0, "voice": 1}]
    assert {"application.submitted", "attachments.linked"} <= {e.action for e in events}

    calls, stored = len(tg.calls), count(rig, inbound.InboundMessage)
    for update in phone.posted:  # Telegram redelivers every single update
        assert rig.post(copy.deepcopy(update)).status_code == 200
    rig.settle()
    again = tg.calls[calls:]
    assert {c.method for c in again} <= {"answerCallbackQuery"}, "no message sent twice"
    assert count(rig, inbound.InboundMessage) == stored
    assert count(rig, Application) == 1 and count(rig, Attachment) == 2


@pytest.mark.parametrize("secret", [None, "", "guessed-secret"])
def test_a_missing_or_wrong_secret_token_is_refused(
    rig: TelegramRig, tg: FakeTelegram, secret: str | None
) -> None:
    update = tg.user_message(4502, "/start", queue=False)
    response = rig.post(update, secret=secret)
    assert response.status_code == 403
    assert count(rig, inbound.InboundMessage) == 0
    assert tg.sent_messages() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"message": {"text": "no update id"}}', 400),
        (b'{"update_id": 1, "message": {"message_id": "x"}}', 400),
        (b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "no chat"}}', 400),
        (b'{"update_id": 1, "callback_query": {"id": "1", "data": 5}}', 400),
        (b'{"update_id": 1, "message": {"text": "' + b"x" * 5000 + b'"}}', 413),
    ],
)
def test_malformed_or_oversized_bodies_get_a_4xx_and_are_not_logged(
    settings: Settings,
    clock: FakeClock,
    tg: FakeTelegram,
    body: bytes,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = telegram_settings(settings, tg, telegram_max_body_bytes=4096)
    with TelegramRig(small, clock, tg) as rig:
        response = httpx.post(
            f"{rig.url}{WEBHOOK}",
            content=body,
            headers={"x-telegram-bot-api-secret-token": "tg-secret_0123456789"},
        )
        assert response.status_code == status
        assert count(rig, inbound.InboundMessage) == 0
    assert "no update id" not in caplog.text and "xxxx" not in caplog.text


def _text_update(chat: int = 4601) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "U", "language_code": "zh-hans"}
    message = {"message_id": 1, "date": 1_790_000_000, "text": "/start"}
    message.update(chat={"id": chat, "type": "private", "first_name": "U"}, **{"from": user})
    return {"update_id": next_update_id(), "message": message}


def _press_update(chat: int = 4601) -> dict[str, Any]:
    update = _text_update(chat)
    shown = update.pop("message")
    shown["reply_markup"] = {"inline_keyboard": [[{"text": "申请", "callback_data": "c:a"}]]}
    query = {"id": "q1", "chat_instance": "1", "data": "c:a", "from": shown["from"]}
    return {**update, "callback_query": {**query, "message": shown}}


def _set(path: str, value: object, base: Callable[[], dict[str, Any]] = _text_update) -> bytes:
    """A valid update with the value at ``path`` (dotted) replaced."""
    update = base()
    *parents, last = path.split(".")
    inner = update
    for key in parents:
        inner = inner[int(key)] if isinstance(inner, list) else inner[key]
    inner[int(last) if isinstance(inner, list) else last] = value
    return json.dumps(update).encode()


def _splice(raw: bytes) -> bytes:
    """A valid update with one more field whose JSON text is ``raw``."""
    return json.dumps(_text_update()).encode()[:-1] + b', "extra": ' + raw + b"}"


def _photo_update() -> dict[str, Any]:
    update = _text_update()
    del update["message"]["text"]
    photo = {"file_id": "P", "file_unique_id": "PU", "width": 9, "height": 9, "file_size": 9}
    update["message"]["photo"] = [photo]
    return update


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_set("update_id", 2**64), id="update_id beyond 64 bits"),
        pytest.param(_set("message.chat.id", 2**64), id="chat id beyond 64 bits"),
        pytest.param(
            _set("callback_query.message.message_id", -(2**70), _press_update),
            id="message_id beyond 64 bits",
        ),
        pytest.param(_splice(b"1" * 5000), id="a 5,000-digit number"),
        pytest.param(_splice(b"[" * 5000 + b"]" * 5000), id="5,000 levels"),
        pytest.param(_set("message.text", "\ud800"), id="a lone surrogate"),
        pytest.param(_set("message.text", "a\u0000b"), id="a NUL"),
        pytest.param(_splice(b"NaN"), id="NaN"),
        pytest.param(_set("message.chat.id", "4601"), id="chat id a string"),
        pytest.param(_set("message.chat.id", True), id="chat id true"),
        pytest.param(_set("message.text", ["a"]), id="text a list"),
        pytest.param(_set("message.from.language_code", 5), id="language a number"),
        pytest.param(_set("callback_query.data", {"a": 1}, _press_update), id="data a dict"),
        pytest.param(_set("message.date", 10**15), id="a date no calendar has"),
        pytest.param(_set("message.photo.0.file_size", "big", _photo_update), id="size text"),
        pytest.param(_set("message.caption", 5, _photo_update), id="caption a number"),
    ],
)
def test_hostile_updates_get_a_polite_400_and_store_and_send_nothing(
    rig: TelegramRig, tg: FakeTelegram, body: bytes
) -> None:
    response = httpx.post(
        f"{rig.url}{WEBHOOK}", content=body, headers={"x-telegram-bot-api-secret-token": SECRET}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_update"
    assert "。" in response.json()["message"].split(" ")[0]  # Chinese first
    assert count(rig, inbound.InboundMessage) == 0 and count(rig, Contact) == 0
    assert tg.sent_messages() == []


def test_an_update_id_beyond_32_bits_is_answered(rig: TelegramRig, tg: FakeTelegram) -> None:
    update = _text_update(4609)
    update["update_id"] = 2**40  # the sequence column is 32-bit: PostgreSQL refused the row
    assert rig.post(update).status_code == 200
    rig.settle()
    assert tg.sent_texts(4609)[-1] == "请选择您要办的事："
    with rig.services.db.read() as db:
        row = db.exec(select(inbound.InboundMessage)).one()
    assert row.external_id == str(2**40) and row.status == inbound.InboundStatus.PROCESSED


def test_while_the_database_is_away_telegram_gets_503_and_its_redelivery_is_answered(
    settings: Settings, clock: FakeClock, tg: FakeTelegram
) -> None:
    with (
        outage_for(telegram_settings(settings, tg)) as (relayed, outage),
        TelegramRig(relayed, clock, tg) as rig,
    ):
        phone = Phone(rig, 4610)
        phone.say("/start")
        update = tg.user_message(4610, "帮助", queue=False)
        update["update_id"] = next_update_id()
        update["message"]["from"]["language_code"] = "zh-hans"
        outage.down(rig.services.db)
        try:
            away = rig.post(update)
        finally:
            outage.up(rig.services.db)
        assert away.status_code == 503 and away.json()["error"] == "unavailable"
        assert rig.post(update).status_code == 200  # Telegram delivers it again
        rig.settle()
        texts = phone.texts()
        assert len(texts) == 4 and texts[-1] == "请选择您要办的事：", "answered once"
        assert not any("系统出了点问题" in text for text in texts)
        with rig.services.db.read() as db:
            statuses = db.exec(select(inbound.InboundMessage.status)).all()
        assert statuses == [inbound.InboundStatus.PROCESSED] * 2


def test_a_double_tap_answers_once(rig: TelegramRig, tg: FakeTelegram) -> None:
    phone = Phone(rig, 4503)
    phone.say("/start")
    message_id = phone.message_with("choose:apply")
    sent = len(phone.sent())
    for _ in range(2):  # two taps before the keyboard disappears
        update = tg.user_callback(4503, message_id, "choose:apply", queue=False)
        update["update_id"] = next_update_id()
        assert rig.post(update).status_code == 200
    rig.settle()
    assert phone.texts()[sent:] == ["这次是给谁申请？"]
    # The spinner answers run after the 200, beside the outbox: wait for both.
    wait_until(lambda: len(tg.calls_for("answerCallbackQuery")) == 2)
    answers = tg.calls_for("answerCallbackQuery")
    again = "这个问题已经回答过了，请看最新的消息。"
    assert [a.params.get("text") for a in answers] == [None, again]
    assert len([c for c in tg.calls_for("editMessageText") if c.ok]) == 1


def test_concurrent_and_out_of_order_updates_from_one_chat_are_each_answered_once(
    settings: Settings, clock: FakeClock, tg: FakeTelegram
) -> None:
    quick = telegram_settings(settings, tg, telegram_per_chat_interval=0.0)
    with TelegramRig(quick, clock, tg) as rig:
        phone = Phone(rig, 4504)
        phone.say("/start")
        updates = []
        for _ in range(12):
            update = tg.user_message(4504, "帮助", queue=False)
            update["update_id"] = next_update_id()
            updates.append(update)
        random.Random(7).shuffle(updates)  # out of order, and all at once
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda u: rig.post(u).status_code, updates))
        assert statuses == [200] * 12
        rig.settle()
        with rig.services.db.read() as db:
            rows = db.exec(select(inbound.InboundMessage)).all()
        assert len(rows) == 13
        assert {r.status for r in rows} == {inbound.InboundStatus.PROCESSED}
        assert len(phone.sent()) == 2 + 12 * 2  # welcome + menu, then help + menu each time
        assert phone.texts()[-1] == "请选择您要办的事："


def test_a_burst_from_500_chats(settings: Settings, clock: FakeClock, tg: FakeTelegram) -> None:
    fast = telegram_settings(settings, tg, telegram_messages_per_second=5000)
    with TelegramRig(fast, clock, tg) as rig:
        chats = range(800_001, 800_501)
        updates = []
        for chat in chats:
            update = tg.user_message(chat, "/start", queue=False)
            update["update_id"] = next_update_id()
            updates.append(update)
        with ThreadPoolExecutor(max_workers=32) as pool:
            statuses = list(pool.map(lambda u: rig.post(u).status_code, updates))
        assert statuses == [200] * 500
        rig.settle(timeout=120)
        for _ in range(3):  # a send the loaded machine timed out is retried later
            if not rig.retries_waiting():
                break
            clock.advance(minutes=15)
            rig.settle(timeout=120)
        sent = tg.sent_messages()
        per_chat: dict[object, int] = {}
        for call in sent:
            per_chat[call.chat_id] = per_chat.get(call.chat_id, 0) + 1
        assert len(per_chat) == 500 and set(per_chat.values()) == {2}
        assert count(rig, Contact) == 500


def test_other_message_kinds_get_a_polite_line_or_are_ignored(
    rig: TelegramRig, tg: FakeTelegram
) -> None:
    phone = Phone(rig, 4505)
    phone.say("/start")
    before = len(phone.sent())
    phone.say(sticker={"file_id": "S", "file_unique_id": "S", "width": 1, "height": 1,
                       "is_animated": False, "is_video": False, "type": "regular"})  # fmt: skip
    phone.say(location={"latitude": 29.5, "longitude": 114.0})
    edited = tg.user_message(4505, "改了", queue=False)["message"]
    edited["edit_date"] = edited["date"] + 5
    assert rig.post({"update_id": next_update_id(), "edited_message": edited}).status_code == 200
    document = tg.add_file(b"%PDF-1.4 bill", file_name="bill.pdf")
    phone.say(document=document)
    rig.settle()
    assert phone.texts()[before:] == [
        "这个我看不懂。请点下面的按钮，或者直接打字、发照片、发语音。",
        "这个我看不懂。请点下面的按钮，或者直接打字、发照片、发语音。",
        "改过的消息我看不到，请把改好的内容重新发一条。",
        "文件收到了，会和您这次办的事一起交给村干部。",
    ]
    group = tg.user_message(-100123, "/start", user_id=4505, queue=False)
    group["update_id"] = next_update_id()
    assert rig.post(group).status_code == 200
    rig.settle()
    assert tg.sent_messages(-100123) == []
    with rig.services.db.read() as db:
        kept = db.exec(select(Attachment)).one()
    assert kept.kind == AttachmentKind.DOCUMENT
    assert file_name_of(kept, rig.services.cipher) == "bill.pdf"
    assert kept.queue_item_id is None and kept.mime == "application/pdf"


def test_english_speakers_are_answered_in_english_and_can_switch(
    rig: TelegramRig, tg: FakeTelegram
) -> None:
    phone = Phone(rig, 4506, language="en-US")
    phone.say("/start")
    assert phone.texts()[-1] == "What would you like to do?"
    phone.say("/language")
    phone.press("lang:zh_CN")
    assert phone.texts()[-1] == "请选择您要办的事："
    phone.say("/status")
    assert "编号" in phone.texts()[-1]
    phone.say("/cancel")
    assert phone.texts()[-1] == "请选择您要办的事："
    phone.say("/help")
    assert phone.texts()[-2].startswith("点一个按钮就可以")


def test_a_person_who_blocks_the_bot_is_stopped_until_they_write_again(
    rig: TelegramRig, tg: FakeTelegram
) -> None:
    phone = Phone(rig, 4507)
    phone.say("/start")
    kicked = {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": {"id": 4507, "type": "private", "first_name": "U"},
            "from": {"id": 4507, "is_bot": False, "first_name": "U"},
            "date": 1,
            "old_chat_member": {"status": "member", "user": tg.bot_user},
            "new_chat_member": {"status": "kicked", "user": tg.bot_user, "until_date": 0},
        },
    }
    assert rig.post(kicked).status_code == 200
    with rig.services.db.read() as db:
        assert db.exec(select(Contact)).one().stopped_at is not None
    phone.say("帮助")
    with rig.services.db.read() as db:
        assert db.exec(select(Contact)).one().stopped_at is None
    assert phone.texts()[-1] == "请选择您要办的事："


def test_an_answer_that_fails_still_reaches_the_villager(
    rig: TelegramRig, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Phone(rig, 4506)
    engine = rig.services.conversations.engine

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine, "resume", broken)
    phone.say("/start")
    assert phone.texts() == [translate("zh_CN", "error.internal")]
    with rig.services.db.read() as db:
        row = db.exec(select(inbound.InboundMessage)).one()
    assert row.status == inbound.InboundStatus.FAILED and row.error == "RuntimeError"


def test_a_button_outside_a_private_chat_still_stops_its_spinner(
    rig: TelegramRig, tg: FakeTelegram
) -> None:
    update = tg.user_callback(4507, 1, "choose:apply", queue=False)
    update["callback_query"]["message"]["chat"] = {"id": -100123, "type": "group", "title": "村群"}
    update["update_id"] = next_update_id()
    assert rig.post(update).status_code == 200
    wait_until(lambda: len(tg.calls_for("answerCallbackQuery")) == 1)
    assert count(rig, inbound.InboundMessage) == 0 and tg.sent_messages() == []


def test_the_service_log_never_holds_the_bot_token(
    rig: TelegramRig, tg: FakeTelegram, capfd: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("httpx").level
    try:
        configure_logging("DEBUG", secrets=[tg.token])
        Phone(rig, 4508).say("/start")
        logging.getLogger("bot.test").warning("token %s in a message", tg.token)
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:], level, httpx_level = saved
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(httpx_level)
    err = capfd.readouterr().err
    assert "sendMessage" in err and "token <secret> in a message" in err  # logs were written
    assert tg.token not in err and tg.token.split(":")[1] not in err
