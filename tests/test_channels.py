"""The channel contract: every registered channel, built from its settings against its fake,
keeps the same promises (names, decoding, presentation by capability, outbox or inline,
sender and limits, routes, lifecycle). A new channel joins by its registry line alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FakeClock
from fakes.sms_gateway import FakeAliyunSms
from fakes.telegram_api import FakeTelegram
from fakes.wechat_api import FakeWeChat
from fakes.wechat_xml import inbound_xml
from telegram import Update
from telegram_support import telegram_settings
from wechat_support import wechat_settings

from bot.app import build_channels, create_app
from bot.channels.base import Capabilities, Channel, adapt, numbered, split_text
from bot.channels.operator import Turn
from bot.channels.registry import CHANNELS
from bot.channels.terminal import Line
from bot.channels.webhook import WebhookMessage
from bot.channels.wechat.messages import parse_message
from bot.config import Settings
from bot.render import Rendered
from bot.services import Services, build_services
from notifications.ratelimit import Limits

ROOT = Path(__file__).resolve().parent.parent
NAMES = [factory.name for factory in CHANNELS]
LONG = Rendered("第一行\n" + "很长的一句话。" * 3000, (("是", "q:yes"), ("否", "q:no")))


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeWeChat, FakeAliyunSms]]:
    with FakeTelegram() as tg, FakeWeChat() as wx, FakeAliyunSms() as sms:
        yield tg, wx, sms


@pytest.fixture
def every(
    settings: Settings, clock: FakeClock, fakes: tuple[FakeTelegram, FakeWeChat, FakeAliyunSms]
) -> Iterator[tuple[Services, dict[str, Channel[Any]]]]:
    """Every channel configured at once, each pointed at its fake."""
    tg, wx, sms = fakes
    configured = wechat_settings(telegram_settings(settings, tg), wx).model_copy(
        update={
            "webhook_callback_url": "http://127.0.0.1:9/hook",
            "sms_access_key_id": sms.access_key_id,
            "sms_access_key_secret": sms.access_key_secret,
            "sms_sign_name": "防返贫热线",
            "sms_endpoint": sms.endpoint,
            "sms_templates": '{"notice": "SMS_100001"}',
            "sms_push_token": "push-token-0123456789",
        }
    )
    services = build_services(configured, clock=clock)
    channels = build_channels(configured, services)
    yield services, {channel.name: channel for channel in channels}
    services.db.dispose()


def sample(name: str, channel: Channel[Any]) -> Any:
    """Something that arrives on ``name``, as its own wire shape."""
    if name == "telegram":
        update = {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "date": 1795570200,
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "王"},
                "text": "你好",
            },
        }
        return Update.de_json(update, getattr(channel, "bot", None))
    if name == "webhook":
        return WebhookMessage.model_validate({"id": "m-1", "from": "u-1", "text": "你好"})
    if name == "terminal":
        return Line("t-1", "u-1", "你好")
    if name == "wechat":
        return parse_message(inbound_xml("oVillager", "text", msg_id=1, Content="你好"))
    if name == "operator":
        return Turn(7, "0123456789ab", "0" * 32, text="你好")
    return [{"phone_number": "13800138000", "content": "TD"}]


@pytest.mark.parametrize("name", NAMES)
def test_each_channel_is_built_and_named_as_registered(
    name: str, every: tuple[Services, dict[str, Channel[Any]]]
) -> None:
    services, channels = every
    factory = next(f for f in CHANNELS if f.name == name)
    channel = channels[name]
    assert channel.name == name and factory.inline == channel.capabilities.inline
    assert (name in services.conversations.outbox_channels) is not channel.capabilities.inline
    assert isinstance(channel.limits, Limits)
    if channel.sender is not None:
        assert channel.sender.channel == name


@pytest.mark.parametrize("name", NAMES)
def test_what_arrives_is_decoded_for_its_own_channel(
    name: str, every: tuple[Services, dict[str, Channel[Any]]]
) -> None:
    channel = every[1][name]
    incoming = channel.decode(sample(name, channel))
    if name == "sms":
        assert incoming is None, "SMS replies are opt-out words, never dialog input"
        return
    assert incoming is not None and incoming.channel == name
    assert incoming.input.text == "你好" and incoming.sender


@pytest.mark.parametrize("name", NAMES)
def test_replies_are_presented_within_the_channels_capabilities(
    name: str, every: tuple[Services, dict[str, Channel[Any]]]
) -> None:
    channel = every[1][name]
    parts = channel.present([LONG])
    limit = channel.capabilities.max_text
    assert all(len(part.text) <= limit for part in parts)
    assert "".join(p.text for p in parts).replace("\n", "").startswith("第一行很长的一句话")
    assert parts[-1].buttons == LONG.buttons and not any(p.buttons for p in parts[:-1])
    if not channel.capabilities.buttons:
        assert parts[-1].text.endswith("1. 是\n2. 否\n（回复数字选择）")


@pytest.mark.parametrize("name", NAMES)
async def test_routes_live_under_channels_and_refuse_strangers_politely(
    name: str, every: tuple[Services, dict[str, Channel[Any]]]
) -> None:
    """Mounted by the app, and an unsigned request is refused (never 404, never 2xx).

    The operator's console is a cadre page: it lives under ``/cadre/hotline``, and a
    stranger is sent to the cadre login (a page view) or refused (a POST)."""
    services, channels = every
    routes = channels[name].router()
    found = [(r.path, m) for r in (routes.routes if routes else []) for m in r.methods]  # type: ignore[attr-defined]
    prefix = "/cadre/hotline" if name == "operator" else "/channels/"
    assert all(path.startswith(prefix) for path, _ in found)
    transport = httpx.ASGITransport(app=create_app(services.settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path, method in found:
            response = await client.request(
                method, path.replace("{call_id}", "0" * 12), content=b"[]"
            )
            if name == "operator" and method == "GET":
                assert response.status_code == 303
                assert response.headers["location"] == "/cadre/login"
                continue
            assert response.status_code in (401, 403), (path, response.status_code)
            assert re.search("[\u4e00-\u9fff]", response.text), "a polite word in Chinese"


@pytest.mark.parametrize("name", NAMES)
async def test_a_channel_starts_stops_and_closes(
    name: str, every: tuple[Services, dict[str, Channel[Any]]]
) -> None:
    channel = every[1][name]
    await channel.start()
    await channel.stop()
    await channel.close()


def test_an_unconfigured_channel_is_left_out(settings: Settings, services: Services) -> None:
    names = {channel.name for channel in build_channels(settings, services)}
    assert names == {"webhook", "terminal", "operator"}


def test_numbered_and_lettered_choices() -> None:
    asked = Rendered("家里几口人？", (("一人", "size:1"), ("两人", "size:2")))
    assert numbered(asked).endswith("1. 一人\n2. 两人\n（回复数字选择）")
    typed = Rendered("欠债多少？", (("没有欠债", "debts:0"),), free_answer=True)
    assert numbered(typed).endswith("A. 没有欠债\n（直接填写，或回复字母选择）")
    english = Rendered("How many?", (("One", "size:1"),))
    assert numbered(english).endswith("(Reply with a number.)")


def test_long_text_is_cut_at_line_ends() -> None:
    assert split_text("ab\ncd\nef", 5) == ["ab\ncd", "ef"]
    assert split_text("abcdefgh", 3) == ["abc", "def", "gh"]
    assert adapt(Rendered("短"), Capabilities(buttons=False, max_text=10)) == [Rendered("短")]


def test_no_channel_name_is_spelled_outside_its_own_module() -> None:
    """The app, the services and the conversation loop over the registry instead."""
    spelled = re.compile(r"[\"'](telegram|wechat|sms)[\"']")
    offenders = []
    # The commands (``hotline telegram``, ``poster --channel wechat``) are words an operator
    # types, not wiring: they are left to the ``cli`` modules.
    modules = [p for p in ROOT.glob("bot/*.py") if not p.name.startswith("cli")]
    for path in [*modules, ROOT / "bot/channels/registry.py"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if spelled.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_every_channel_credential_is_handed_to_the_log_filter(settings: Settings) -> None:
    given = {
        "telegram_token": "123:telegram-token-value",
        "wechat_app_secret": "wechat-app-secret-value",
        "wechat_aes_key": "a" * 43,
        "sms_access_key_secret": "sms-access-key-secret",
        "sms_push_token": "sms-push-token-value-01",
    }
    assert set(settings.model_copy(update=given).channel_secrets()) == set(given.values())
