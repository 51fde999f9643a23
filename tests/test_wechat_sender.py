"""The WeChat sender: customer-service messages, numbered or tappable choices, and the
fall-backs past the 48-hour window (template message, then SMS), against the fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fakes.wechat_api import FakeWeChat
from sqlmodel import select

from bot.channels.wechat.api import WeChatApi
from bot.channels.wechat.sender import SmsFallback, WeChatSender
from bot.services import Services
from intake.applications import Application
from intake.contacts import get_or_create_contact
from notifications.outbox import OutboxMessage
from notifications.sender import Delivered, Failed

OPENID = "oSenderTest0001"
TEMPLATE = "tmpl-notice-0001"
PHONE = "13812345678"
CHOICES = {"text": "家里有人生大病吗？", "buttons": [{"label": "有", "data": "illness:yes"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat() as wx:
        yield wx


@pytest.fixture
def wx(fake: FakeWeChat) -> FakeWeChat:
    fake.reset()
    fake.add_template(TEMPLATE)
    return fake


@pytest.fixture
async def api(services: Services, wx: FakeWeChat) -> AsyncIterator[WeChatApi]:
    async with WeChatApi(
        services.db, app_id=wx.app_id, app_secret=wx.app_secret, base_url=wx.base_url
    ) as client:
        yield client


async def test_choices_go_numbered_or_as_a_msgmenu(api: WeChatApi, wx: FakeWeChat) -> None:
    wx.user_writes(OPENID)
    assert isinstance(await WeChatSender(api).send(OPENID, CHOICES), Delivered)
    assert wx.sent_texts(OPENID) == ["家里有人生大病吗？\n1. 有\n（回复数字选择）"]
    assert isinstance(await WeChatSender(api, msgmenu=True).send(OPENID, CHOICES), Delivered)
    menu = wx.sent(OPENID)[-1]["msgmenu"]
    assert menu["list"] == [{"id": "illness:yes", "content": "有"}]


async def test_a_long_text_goes_in_parts_each_sent_once(api: WeChatApi, wx: FakeWeChat) -> None:
    wx.user_writes(OPENID)
    sender = WeChatSender(api)
    payload = {"text": "\n".join(["一句通知。" * 20] * 10), "buttons": []}
    parts = sender.parts(payload)
    assert parts > 1
    for part in range(parts):
        assert isinstance(await sender.send(OPENID, {**payload, "part": part}), Delivered)
    assert "".join(wx.sent_texts(OPENID)).replace("\n", "") == payload["text"].replace("\n", "")


async def test_past_the_window_a_template_message_goes_instead(
    api: WeChatApi, wx: FakeWeChat
) -> None:
    wx.follow(OPENID)  # follows, has not written: customer service answers 45015
    sender = WeChatSender(api, template_id=TEMPLATE)
    assert isinstance(await sender.send(OPENID, {"text": "公示已开始。"}), Delivered)
    assert wx.sent(OPENID)[-1]["data"]["first"] == {"value": "公示已开始。"}


async def test_without_a_template_an_sms_goes_to_the_phone_of_the_application(
    api: WeChatApi, wx: FakeWeChat, services: Services
) -> None:
    wx.follow(OPENID)
    sms = SmsFallback(services.db, services.cipher, template="wechat_fallback", now=services.clock)
    sender = WeChatSender(api, sms=sms)
    unknown = await sender.send(OPENID, {"text": "公示已开始。"})
    assert isinstance(unknown, Failed) and "45015" in unknown.reason
    with services.db.write() as db:
        contact = get_or_create_contact(db, "wechat", OPENID, language="zh_CN")
        db.add(
            Application(
                contact_id=contact.id, status="submitted", phone_cipher=services.cipher.seal(PHONE)
            )
        )
    outcome = await sender.send(OPENID, {"text": "公示已开始。"})
    assert isinstance(outcome, Failed) and "SMS" in outcome.reason
    with services.db.read() as db:
        (row,) = db.exec(select(OutboxMessage).where(OutboxMessage.channel == "sms")).all()
    assert row.recipient == services.cipher.lookup_hash(PHONE) and PHONE not in str(row.payload)
