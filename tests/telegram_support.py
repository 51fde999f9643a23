"""Helpers for the Telegram tests: the service wired to a fake Bot API, and a villager's phone.

:class:`TelegramRig` runs the real app (uvicorn on 127.0.0.1) with its Telegram channel
pointed at :class:`~tests.fakes.telegram_api.FakeTelegram`; :class:`Phone` plays one
private chat: it posts Telegram-shaped updates to the webhook and reads what the bot sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from conftest import FakeClock, LiveServer
from fakes.telegram_api import Call, FakeTelegram
from sqlmodel import col, select

from bot.app import create_app
from bot.config import Settings
from bot.services import Services, build_services
from notifications.outbox import OutboxMessage, OutboxStatus

SECRET = "tg-secret_0123456789"
WEBHOOK = "/channels/telegram"
UNSETTLED = (OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING)


def telegram_settings(settings: Settings, tg: FakeTelegram, **extra: Any) -> Settings:
    """``settings`` with the Telegram channel pointed at ``tg``."""
    return settings.model_copy(
        update={
            "telegram_token": tg.token,
            "telegram_api_url": tg.base_url,
            "telegram_file_url": tg.base_file_url,
            "telegram_secret_token": SECRET,
            "telegram_poll_timeout": 1,
            "telegram_per_chat_interval": 0.0,
            **extra,
        }
    )


class TelegramRig:
    """The service under test with a Telegram bot, plus a way to wait for it to settle."""

    def __init__(self, settings: Settings, clock: FakeClock, tg: FakeTelegram) -> None:
        self.settings = settings
        self.clock = clock
        self.tg = tg
        self.services: Services = build_services(settings, clock=clock, rng=random.Random(2026))
        self.app = create_app(settings, self.services)
        self.live = LiveServer(self.app)
        self.url = ""

    def __enter__(self) -> TelegramRig:
        self.live.__enter__()
        self.url = self.live.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)
        self.services.db.dispose()

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        """POST one update to the webhook, as Telegram does (and carry out the Bot API
        call the webhook may answer with, as Telegram does)."""
        headers = {"x-telegram-bot-api-secret-token": secret} if secret is not None else {}
        response = httpx.post(f"{self.url}{WEBHOOK}", json=update, headers=headers, timeout=30)
        self.tg.carry_out(response)
        return response

    def unsettled(self) -> int:
        """Outbox rows due and not yet answered by Telegram."""
        with self.services.db.read() as db:
            query = select(OutboxMessage.id).where(
                col(OutboxMessage.status).in_(UNSETTLED),
                col(OutboxMessage.next_attempt_at) <= self.clock(),
            )
            return len(list(db.exec(query)))

    def retries_waiting(self) -> int:
        """Outbox rows waiting for a retry the fake clock has not reached."""
        with self.services.db.read() as db:
            query = select(OutboxMessage.id).where(
                col(OutboxMessage.status).in_(UNSETTLED),
                col(OutboxMessage.next_attempt_at) > self.clock(),
            )
            return len(list(db.exec(query)))

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every due outbox row got its answer from Telegram."""
        wait_until(lambda: self.unsettled() == 0, timeout)

    def rows(self) -> list[OutboxMessage]:
        """Every outbox row, in order."""
        with self.services.db.read() as db:
            return list(db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


class Phone:
    """One villager's private chat with the bot."""

    def __init__(self, rig: TelegramRig, chat_id: int, language: str = "zh-hans") -> None:
        self.rig = rig
        self.tg = rig.tg
        self.chat_id = chat_id
        self.language = language
        self.posted: list[dict[str, Any]] = []

    def _post(self, update: dict[str, Any], settle: bool = True) -> dict[str, Any]:
        for key in ("message", "callback_query"):
            if key in update:
                update[key]["from"]["language_code"] = self.language
        response = self.rig.post(update)
        assert response.status_code == 200, response.text
        self.posted.append(update)
        if settle:
            self.rig.settle()
        return update

    def say(self, text: str | None = None, settle: bool = True, **fields: Any) -> dict[str, Any]:
        """Send a message (text, or ``photo=...``, ``voice=...``…)."""
        update = self.tg.user_message(self.chat_id, text, queue=False, **fields)
        update["update_id"] = next_update_id()
        return self._post(update, settle)

    def press(self, data: str, settle: bool = True) -> dict[str, Any]:
        """Tap the button with ``data`` on the newest bot message that shows it."""
        message_id = self.message_with(data)
        update = self.tg.user_callback(self.chat_id, message_id, data, queue=False)
        update["update_id"] = next_update_id()
        return self._post(update, settle)

    def message_with(self, data: str) -> int:
        """The id of the newest bot message whose keyboard has ``data``."""
        for call in reversed(self.sent()):
            markup = call.params.get("reply_markup") or {}
            rows = markup.get("inline_keyboard", [])
            if any(b.get("callback_data") == data for row in rows for b in row):
                return int(call.result["message_id"])
        raise AssertionError(f"no message with button {data!r}; got {self.texts()[-3:]}")

    def sent(self) -> list[Call]:
        """The bot's successful sendMessage calls to this chat."""
        return self.tg.sent_messages(self.chat_id)

    def texts(self) -> list[str]:
        """Their texts."""
        return self.tg.sent_texts(self.chat_id)


_UPDATE_IDS = iter(range(10_000_000, 99_999_999))


def next_update_id() -> int:
    """A fresh, increasing update id (shared by every phone)."""
    return next(_UPDATE_IDS)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)
