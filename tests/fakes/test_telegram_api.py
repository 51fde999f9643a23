"""The fake Bot API, driven over real HTTP by python-telegram-bot's ``Bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from .telegram_api import FakeTelegram

CHAT = 4201
OTHER_CHAT = 4202


class FrozenClock:
    """A clock for the rate-limit windows that only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram(clock=FrozenClock()) as tg:
        yield tg


@pytest.fixture
def tg(server: FakeTelegram) -> Iterator[FakeTelegram]:
    server.reset()
    yield server
    server.rate_limit_per_second = server.per_chat_per_second = None
    server.per_group_per_minute = None
    server.reset()


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta time periods (no deprecation warnings, future-proof)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def make_bot(tg: FakeTelegram, read_timeout: float = 5.0, token: str | None = None) -> Bot:
    return Bot(
        token or tg.token,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        request=HTTPXRequest(read_timeout=read_timeout, connect_timeout=5.0),
        get_updates_request=HTTPXRequest(read_timeout=read_timeout, connect_timeout=5.0),
    )


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(tg) as started:
        yield started


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"选项{d}", callback_data=d)] for d in data])


async def test_get_me_returns_the_bot_user(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.is_bot
    assert me.username == tg.bot_user["username"]
    assert [call.status for call in tg.calls_for("getMe")] == [200, 200]  # initialize + ours


async def test_send_message_echoes_inline_keyboard_and_numbers_per_chat(
    tg: FakeTelegram, bot: Bot
) -> None:
    first = await bot.send_message(CHAT, "请选择户籍类型", reply_markup=keyboard("rural", "urban"))
    second = await bot.send_message(CHAT, "第二条")
    other = await bot.send_message(OTHER_CHAT, "别的聊天")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.type == "private"
    assert first.from_user is not None and first.from_user.is_bot
    assert first.reply_markup == keyboard("rural", "urban")
    assert tg.sent_texts(CHAT) == ["请选择户籍类型", "第二条"]
    sent = tg.sent_messages(CHAT)[0]
    assert sent.chat_id == CHAT
    assert sent.params["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "urban"


async def test_edit_reply_markup_and_edit_text_behave_like_telegram(
    tg: FakeTelegram, bot: Bot
) -> None:
    sent = await bot.send_message(CHAT, "请确认", reply_markup=keyboard("yes", "no"))

    edited = await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("ok"))
    assert isinstance(edited, Message) and edited.reply_markup == keyboard("ok")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("ok"))

    await bot.edit_message_text("已确认", CHAT, sent.message_id)
    now = tg.message(CHAT, sent.message_id)
    assert now is not None and now["text"] == "已确认"
    assert "reply_markup" not in now  # editing text without a keyboard removes it
    with pytest.raises(BadRequest, match="not found"):
        await bot.edit_message_text("x", CHAT, 999)


async def test_answer_callback_query_for_a_queued_button_press(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "请选择", reply_markup=keyboard("rural"))
    tg.user_callback(CHAT, sent.message_id, "rural")

    (update,) = await bot.get_updates()
    assert update.callback_query is not None and update.callback_query.data == "rural"
    assert await update.callback_query.answer("已记录")
    (answer,) = tg.calls_for("answerCallbackQuery")
    assert answer.params == {"callback_query_id": update.callback_query.id, "text": "已记录"}


async def test_send_document_bytes_as_multipart_then_get_file_and_download(
    tg: FakeTelegram, bot: Bot
) -> None:
    content = "监测对象名单\n".encode() * 100

    message = await bot.send_document(CHAT, content, filename="名单.txt", caption="本周名单")

    assert message.document is not None and message.document.file_name == "名单.txt"
    assert message.caption == "本周名单"
    (call,) = tg.sent_messages(CHAT)
    assert call.files["document"].data == content
    file = await bot.get_file(message.document.file_id)
    assert file.file_size == len(content)
    assert file.file_path is not None and file.file_path.startswith(tg.base_file_url)
    assert bytes(await file.download_as_bytearray()) == content


async def test_send_photo_and_user_uploaded_file(tg: FakeTelegram, bot: Bot) -> None:
    photo = await bot.send_photo(CHAT, b"\x89PNG fake", caption="二维码")
    assert photo.photo and photo.photo[-1].file_size == len(b"\x89PNG fake")

    document = tg.add_file(b"%PDF-1.4 proof", file_name="收入证明.pdf")
    tg.user_message(CHAT, document=document)
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    file = await update.message.document.get_file()
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 proof"


async def test_get_updates_honours_offset_and_limit(tg: FakeTelegram, bot: Bot) -> None:
    for text in ("我要申报", "家里有人生病", "收入下降"):
        tg.user_message(CHAT, text)

    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["我要申报", "家里有人生病"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["收入下降"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()
    assert tg.pending_updates == []


async def test_long_poll_returns_when_an_update_is_queued(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for(lambda: tg.waiting_polls == 1)

    tg.user_message(CHAT, "你好")

    updates = await asyncio.wait_for(poll, timeout=10)
    assert [u.message.text for u in updates if u.message] == ["你好"]


async def test_application_polls_and_replies(tg: FakeTelegram) -> None:
    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"收到：{update.message.text}")

    app = Application.builder().bot(make_bot(tg)).build()
    app.add_handler(MessageHandler(filters.TEXT, reply))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        tg.user_message(CHAT, "我家有困难")
        await tg.wait_for(lambda: tg.sent_texts(CHAT))
        await app.updater.stop()
        await app.stop()

    assert tg.sent_texts(CHAT) == ["收到：我家有困难"]
    assert all(call.ok for call in tg.calls)  # the cancelled long poll is not recorded


async def test_new_get_updates_terminates_an_older_long_poll(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for(lambda: tg.waiting_polls == 1)

    async with make_bot(tg) as second_instance:
        assert await second_instance.get_updates() == ()

    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(poll, timeout=10)


async def test_webhook_blocks_get_updates_and_reports_info(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_message(CHAT, "待处理")
    assert await bot.set_webhook("https://hotline.example.cn/tg/webhook", secret_token="s3cret")

    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    tg.set_webhook_error("Wrong response from the webhook: 502 Bad Gateway", date=1_700_000_000)
    info = await bot.get_webhook_info()
    assert info.url == "https://hotline.example.cn/tg/webhook"
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert info.last_error_date == dtm.datetime.fromtimestamp(1_700_000_000, dtm.UTC)

    assert await bot.delete_webhook()
    assert len(await bot.get_updates()) == 1


async def test_per_chat_rate_limit_answers_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.per_chat_per_second = 1

    await bot.send_message(CHAT, "第一条")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(CHAT, "第二条")
    await bot.send_message(OTHER_CHAT, "别的聊天不受影响")

    assert raised.value.retry_after == dtm.timedelta(seconds=1)
    assert [c.status for c in tg.calls_for("sendMessage")] == [200, 429, 200]
    assert tg.calls_for("sendMessage")[1].response["parameters"] == {"retry_after": 1}


async def test_group_limit_counts_a_minute(tg: FakeTelegram, bot: Bot) -> None:
    tg.per_group_per_minute = 2
    group = -1001234567890

    await bot.send_message(group, "通知一")
    await bot.send_message(group, "通知二")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(group, "通知三")

    retry_after = raised.value.retry_after
    assert isinstance(retry_after, dtm.timedelta)
    assert dtm.timedelta(seconds=1) < retry_after <= dtm.timedelta(seconds=60)


async def test_injected_429_carries_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", "429", retry_after=7)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(CHAT, "x")

    assert raised.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(CHAT, "fault used up")


async def test_5xx_is_a_network_error(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", "5xx", count=2)

    for _ in range(2):
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(CHAT, "x")
        assert type(raised.value) is NetworkError
    assert [c.status for c in tg.calls_for("sendMessage")] == [502, 502]


async def test_403_and_blocked_chat_are_forbidden(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("*", "403", chat_id=CHAT)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(CHAT, "x")

    tg.block_chat(OTHER_CHAT)
    with pytest.raises(Forbidden):
        await bot.send_document(OTHER_CHAT, b"x", filename="a.txt")
    await bot.send_message(CHAT, "fault used up, chat not blocked")
    assert len(tg.sent_messages()) == 1


async def test_injected_400_is_bad_request(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("editMessageText", "400", description="Bad Request: chat not found")

    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.edit_message_text("x", CHAT, 1)


async def test_timeout_fault_times_out_the_client(tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", "timeout", hold=60, deliver=True)

    async with make_bot(tg, read_timeout=0.5) as impatient:
        with pytest.raises(TimedOut):
            await impatient.send_message(CHAT, "会重复吗")
    assert tg.held_count == 1
    tg.release_held()

    # deliver=True: Telegram did send it, the client just never heard back
    await tg.wait_for(lambda: len(tg.sent_messages(CHAT)) == 1)
    assert tg.held_count == 0


async def test_timeout_fault_without_delivery_answers_504(tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", "timeout", hold=60)
    async with make_bot(tg, read_timeout=0.5) as impatient:
        with pytest.raises(TimedOut):
            await impatient.send_message(CHAT, "丢了")
    tg.release_held()

    await tg.wait_for(lambda: tg.calls_for("sendMessage"))
    assert tg.calls_for("sendMessage")[0].status == 504
    assert tg.sent_messages() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("长" * 4097, "message is too long"),
        ("   ", "message text is empty"),
    ],
)
async def test_text_limits(tg: FakeTelegram, bot: Bot, text: str, expected: str) -> None:
    await bot.send_message(CHAT, "长" * 4096)

    with pytest.raises(BadRequest) as raised:
        await bot.send_message(CHAT, text)

    assert raised.value.message.casefold() == expected
    assert tg.calls_for("sendMessage")[-1].response["description"] == f"Bad Request: {expected}"


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot) -> None:
    await bot.send_message(CHAT, "ok", reply_markup=keyboard("村" * 21))  # 63 bytes

    with pytest.raises(BadRequest) as raised:
        await bot.send_message(CHAT, "x", reply_markup=keyboard("村" * 22))  # 66 bytes

    assert raised.value.message.casefold() == "button_data_invalid"


async def test_parse_mode_errors_like_telegram(bot: Bot) -> None:
    await bot.send_message(CHAT, "<b>张三</b> &lt;户主&gt;", parse_mode="HTML")
    await bot.send_message(CHAT, r"收入下降 30\.5%", parse_mode="MarkdownV2")

    with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
        await bot.send_message(CHAT, "户主<张三>电话<phone>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="reserved"):
        await bot.send_message(CHAT, "电话 138-0000-0000", parse_mode="MarkdownV2")


async def test_wrong_token_and_unknown_method(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="rejected"):
        async with make_bot(tg, token="999:WRONG"):
            pass
    assert tg.calls_for("getMe")[0].response["description"] == "Unauthorized"
    assert tg.calls_for("getMe")[0].status == 401

    async with httpx.AsyncClient() as client:
        response = await client.post(tg.api_url("sendTelepathy"), json={"chat_id": CHAT})
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_sync_use_and_a_sliding_window_on_a_fake_clock() -> None:
    clock = FrozenClock()
    with FakeTelegram(rate_limit_per_second=2, clock=clock) as tg, httpx.Client() as client:

        def send(chat_id: int, **extra: object) -> httpx.Response:
            body = {"chat_id": chat_id, "text": "您好", **extra}
            return client.post(tg.api_url("sendMessage"), json=body)

        markup = {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]}
        first = send(1).json()
        assert first["result"]["chat"] == {"id": 1, "type": "private", "first_name": "User1"}
        assert send(2, reply_markup=markup).json()["result"]["reply_markup"] == markup
        assert send(3).json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }
        clock.now = 1000.999
        assert send(4).status_code == 429
        clock.now = 1001.0  # the first two calls leave the 1 s window
        assert send(5).status_code == 200

        tg.wait_until(lambda: len(tg.calls) == 5)
        assert [c.at - 1000.0 for c in tg.calls] == pytest.approx([0, 0, 0, 0.999, 1.0])
        with pytest.raises(TimeoutError, match="sendMessage"):
            tg.wait_until(lambda: False, timeout=0.05)


async def test_reset_drops_requests_in_flight(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for(lambda: tg.waiting_polls == 1)

    tg.reset()

    with pytest.raises(Conflict):
        await asyncio.wait_for(poll, timeout=10)
    assert tg.calls == []


async def test_async_context_manager() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot:
        await bot.send_message(CHAT, "异步")
        assert tg.sent_texts() == ["异步"]
