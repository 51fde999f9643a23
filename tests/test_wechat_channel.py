"""The WeChat channel end to end: uvicorn serving the app, the fake WeChat API, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import FakeClock
from fakes.wechat_api import FakeWeChat
from fakes.wechat_xml import inbound_xml, signed_query
from sqlmodel import select
from test_conversation import ID_NUMBER, PHONE, SCRIPT
from wechat_support import TOKEN, WeChatWorld, reply_text, wait_until, wechat_world

from bot import inbound
from bot.channels.wechat.menu import build_menu
from bot.channels.wechat.safexml import parse_flat
from bot.config import Settings
from intake.applications import Application
from intake.attachments import Attachment
from intake.contacts import find_contact
from locales import translate
from notifications.outbox import OutboxMessage

OPENID = "oVillager0001"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat() as wx:
        yield wx


@pytest.fixture
def wx(fake: FakeWeChat) -> FakeWeChat:
    fake.reset()
    return fake


@pytest.fixture
def world(settings: Settings, clock: FakeClock, wx: FakeWeChat) -> Iterator[WeChatWorld]:
    with wechat_world(settings, clock, wx) as built:
        yield built


def test_the_server_url_check_echoes_only_a_signed_request(world: WeChatWorld) -> None:
    query = {**signed_query(TOKEN), "echostr": "7394021"}
    assert httpx.get(world.url, params=query).text == "7394021"
    forged = {**signed_query("not-our-token"), "echostr": "7394021"}
    refused = httpx.get(world.url, params=forged)
    assert refused.status_code == 403 and refused.text.startswith("签名不对")


def test_the_custom_menu_is_published_when_the_service_starts(world: WeChatWorld) -> None:
    wait_until(lambda: world.wx.state.menu is not None)
    assert world.wx.state.menu == build_menu()
    labels = [b["name"] for b in world.wx.state.menu["button"]]
    assert labels[:2] == ["申请", "查进度"]


def test_a_text_is_answered_inline_with_numbered_choices(world: WeChatWorld) -> None:
    text = world.say(OPENID, 1, "你好")
    assert "1. " in text and text.endswith("（回复数字选择）")
    assert world.last_buttons(OPENID), "the choices are stored to read the number back"


def test_a_forged_post_is_refused_and_nothing_is_kept(world: WeChatWorld) -> None:
    response = world.post(inbound_xml(OPENID, "text", msg_id=5, Content="你好"), token="forged")
    assert response.status_code == 403
    with world.services.db.read() as db:
        assert db.exec(select(inbound.InboundMessage)).first() is None


def test_safe_mode_is_opened_and_the_answer_sealed(world: WeChatWorld) -> None:
    response = world.post_safe(inbound_xml(OPENID, "text", msg_id=7, Content="你好"))
    assert response.status_code == 200
    envelope = parse_flat(response.content)
    inner = parse_flat(world.cipher.decrypt(envelope["Encrypt"]).encode())
    assert inner["ToUserName"] == OPENID and "1. " in inner["Content"]


def test_a_redelivery_answers_success_and_sends_the_replies_once(world: WeChatWorld) -> None:
    world.wx.user_writes(OPENID)
    body = inbound_xml(OPENID, "text", msg_id=11, Content="你好")
    first = world.post(body)
    again = [world.post(body) for _ in range(2)]
    assert reply_text(first) and all(r.text == "success" for r in again)
    wait_until(lambda: world.wx.sent_texts(OPENID))
    with world.services.db.read() as db:
        queued = db.exec(select(OutboxMessage).where(OutboxMessage.channel == "wechat")).all()
        stored = db.exec(select(inbound.InboundMessage)).one()
    assert len(queued) == len(stored.replies or []), "two redeliveries queue the replies once"


def test_a_late_answer_goes_by_customer_service(
    settings: Settings, clock: FakeClock, wx: FakeWeChat
) -> None:
    with wechat_world(settings, clock, wx, wechat_reply_seconds=0) as late:
        assert late.say(OPENID, 21, "你好") == ""
        wait_until(lambda: any("（回复数字选择）" in t for t in late.wx.sent_texts(OPENID)))
    assert late.wx.sent_texts(OPENID)[0].startswith("您好"), "in order: greeting, then menu"


def test_a_poster_scan_binds_the_village(world: WeChatWorld) -> None:
    village = next(v for v in world.services.conversations.villages if v.code == "gangkou-bailing")
    body = inbound_xml(OPENID, "event", Event="subscribe", EventKey="qrscene_v_gangkou-bailing")
    text = reply_text(world.post(body))
    assert translate("zh_CN", "village.bound", village=village.name) in text
    with world.services.db.read() as db:
        contact = find_contact(db, "wechat", OPENID)
    assert contact is not None and contact.village_code == "gangkou-bailing"


def test_voice_uses_recognition_or_is_kept_for_a_cadre(world: WeChatWorld) -> None:
    world.say(OPENID, 30, "你好")
    heard = inbound_xml(OPENID, "voice", msg_id=31, MediaId="m-1", Format="amr", Recognition="人工")
    assert translate("zh_CN", "telegram.attachment.voice") not in reply_text(world.post(heard))
    kept = inbound_xml(OPENID, "voice", msg_id=32, MediaId="m-2", Format="amr")
    assert reply_text(world.post(kept)) == translate("zh_CN", "telegram.attachment.voice")
    image = inbound_xml(OPENID, "image", msg_id=33, PicUrl="http://x/p.jpg", MediaId="m-3")
    assert reply_text(world.post(image)) == translate("zh_CN", "telegram.attachment.photo")
    with world.services.db.read() as db:
        files = db.exec(select(Attachment)).all()
    assert sorted(f.file_id for f in files) == ["m-2", "m-3"]


def test_a_menu_click_opens_its_dialog(world: WeChatWorld) -> None:
    world.say(OPENID, 40, "你好")
    click = inbound_xml(OPENID, "event", Event="CLICK", EventKey="status")
    text = reply_text(world.post(click))
    assert text and "（回复数字选择）" not in text.splitlines()[0]


def test_unsubscribing_stops_every_message(world: WeChatWorld) -> None:
    world.say(OPENID, 50, "你好")
    response = world.post(inbound_xml(OPENID, "event", Event="unsubscribe"))
    assert response.text == "success"
    with world.services.db.read() as db:
        contact = find_contact(db, "wechat", OPENID)
    assert contact is not None and contact.stopped_at is not None


def test_an_unreadable_but_signed_body_is_answered_success(world: WeChatWorld) -> None:
    response = world.post(b"<xml><MsgType>text</MsgType></xml>")
    assert response.status_code == 200 and response.text == "success"


def test_a_whole_self_application_through_numbered_choices(world: WeChatWorld) -> None:
    """Every choice typed as its number, the rest typed as text, as a villager would."""
    world.wx.user_writes(OPENID)
    text = reply_text(world.post(inbound_xml(OPENID, "event", Event="subscribe")))
    assert text
    for number, step in enumerate(SCRIPT[1:], start=100):
        if step.data is not None:
            index = world.last_buttons(OPENID).index(step.data)
            lettered = "\nA. " in text  # a typed answer's shortcuts are lettered
            typed = chr(ord("a") + index) if lettered else str(index + 1)
        else:
            typed = step.text
        text = world.say(OPENID, number, typed)
    assert text.startswith("申请已提交")
    with world.services.db.read() as db:
        application = db.exec(select(Application)).one()
    assert application.status == "submitted"
    assert world.services.cipher.unseal(application.phone_cipher) == PHONE
    assert ID_NUMBER not in str(application.answers)


def test_at_an_amount_question_a_number_is_the_amount_and_a_letter_the_shortcut(
    world: WeChatWorld,
) -> None:
    """ "1" at the medical-cost question is one (asked back as 1 万), never its first button."""
    world.say(OPENID, 200, "你好")
    for number, step in enumerate(SCRIPT[1:5], start=201):
        world.say(OPENID, number, str(world.last_buttons(OPENID).index(step.data) + 1))
    asked = world.last_buttons(OPENID)
    assert asked[0] == "medical_cost:unknown"
    assert world.say(OPENID, 210, "1").startswith("是 1 万元吗")
    world.say(OPENID, 211, "返回")
    shortcut = world.say(OPENID, 212, "Ａ")  # full-width, as Chinese keyboards type it
    assert world.last_buttons(OPENID)[0].startswith("disaster:"), shortcut
