"""Inbound WeChat XML: every kind WeChat documents, hostile bodies refused, the passive reply."""

from __future__ import annotations

import pytest
from fakes.wechat_xml import ACCOUNT, CREATED, inbound_xml
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.wechat.messages import (
    ImageMessage,
    Inbound,
    MenuClick,
    MessageError,
    Scan,
    Subscribe,
    TextMessage,
    Unsubscribe,
    Unsupported,
    VoiceMessage,
    parse_message,
    text_reply,
)
from bot.channels.wechat.safexml import MAX_BYTES, parse_flat

OPENID = "oV1llager_0123456789abcdefgh"
COMMON = {"account": ACCOUNT, "openid": OPENID, "created": CREATED}

CASES: list[tuple[bytes, Inbound]] = [
    (
        inbound_xml(OPENID, "text", msg_id=1234567890123456, Content="我要申请"),
        TextMessage(**COMMON, msg_id="1234567890123456", content="我要申请"),
    ),
    (
        inbound_xml(OPENID, "text", msg_id=7, Content="满意", bizmsgmenuid="apply:yes"),
        TextMessage(**COMMON, msg_id="7", content="满意", menu_id="apply:yes"),
    ),
    (
        inbound_xml(OPENID, "text", msg_id=8, Content=""),
        TextMessage(**COMMON, msg_id="8", content=""),
    ),
    (
        inbound_xml(
            OPENID, "voice", msg_id=9, MediaId="m-voice", Format="amr", Recognition="查一下进度"
        ),
        VoiceMessage(
            **COMMON, msg_id="9", media_id="m-voice", format="amr", recognition="查一下进度"
        ),
    ),
    (
        inbound_xml(OPENID, "voice", msg_id=10, MediaId="m-voice", Format="speex", Recognition=""),
        VoiceMessage(**COMMON, msg_id="10", media_id="m-voice", format="speex"),
    ),
    (
        inbound_xml(OPENID, "image", msg_id=11, PicUrl="http://mmbiz.qpic.cn/x", MediaId="m-img"),
        ImageMessage(**COMMON, msg_id="11", media_id="m-img", pic_url="http://mmbiz.qpic.cn/x"),
    ),
    (
        inbound_xml(
            OPENID, "event", Event="subscribe", EventKey="qrscene_v_441322105001", Ticket="gQT"
        ),
        Subscribe(**COMMON, scene="v_441322105001", ticket="gQT"),
    ),
    (
        inbound_xml(OPENID, "event", Event="subscribe", EventKey=""),
        Subscribe(**COMMON),
    ),
    (inbound_xml(OPENID, "event", Event="unsubscribe", EventKey=""), Unsubscribe(**COMMON)),
    (
        inbound_xml(OPENID, "event", Event="SCAN", EventKey="v_441322105001", Ticket="gQT"),
        Scan(**COMMON, scene="v_441322105001", ticket="gQT"),
    ),
    (
        inbound_xml(OPENID, "event", Event="CLICK", EventKey="status"),
        MenuClick(**COMMON, key="status"),
    ),
    (
        inbound_xml(OPENID, "event", Event="VIEW", EventKey="https://example.org/"),
        Unsupported(**COMMON, msg_type="event", event="view"),
    ),
    (
        inbound_xml(OPENID, "location", msg_id=12, Location_X="23.1", Location_Y="114.2"),
        Unsupported(**COMMON, msg_id="12", msg_type="location"),
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES, ids=[type(e).__name__ for _, e in CASES])
def test_every_documented_kind_parses(body: bytes, expected: Inbound) -> None:
    assert parse_message(body) == expected


def test_messages_deduplicate_by_msgid_and_events_by_sender_and_time() -> None:
    text = parse_message(inbound_xml(OPENID, "text", msg_id=42, Content="hi"))
    click = parse_message(inbound_xml(OPENID, "event", Event="CLICK", EventKey="apply"))
    assert text.external_id == "42"
    assert click.external_id == f"{OPENID}:{CREATED}"


def test_a_body_with_xml_declaration_and_whitespace_parses() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n'
        + inbound_xml(OPENID, "text", msg_id=1, Content="  好 ")[5:]
    )
    message = parse_message(body)
    assert isinstance(message, TextMessage)
    assert message.content == "  好 "


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&d;&d;&d;&d;&d;&d;&d;&d;&d;</Content></xml>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&x;</Content></xml>"""
PARAMETER = b"""<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><xml/>"""
UNDECLARED = b"<xml><FromUserName>o1</FromUserName><Content>&nope;</Content></xml>"


HOSTILE = {
    "billion-laughs": (BOMB, "DOCTYPE"),
    "xxe": (XXE, "DOCTYPE"),
    "parameter-entity": (PARAMETER, "DOCTYPE"),
    "undeclared-entity": (UNDECLARED, "malformed"),
    "huge": (b"<xml>" + b"<a>x</a>" * (MAX_BYTES // 8) + b"</xml>", "too large"),
    "many-elements": (b"<xml>" + b"<a/>" * 300 + b"</xml>", "too many elements"),
    "deep": (b"<xml><a><b><c><d>x</d></c></b></a></xml>", "too deeply"),
    "gbk": ('<?xml version="1.0" encoding="GBK"?><xml/>'.encode("gbk"), "UTF-8"),
    "utf16-declared": ('<?xml version="1.0" encoding="UTF-16"?><xml/>'.encode("utf-16"), "UTF-8"),
    "utf16-bom": ("<xml><Content>好</Content></xml>".encode("utf-16"), "UTF-8"),
    "utf16-no-bom": ("<xml><Content>好</Content></xml>".encode("utf-16-be"), "UTF-8"),
    "bad-utf8": (b"<xml><Content>\xff\xfe bad bytes</Content></xml>", "malformed"),
    "unclosed": (b"<xml><Content>unclosed</xml>", "malformed"),
    "empty": (b"", "malformed"),
    "not-xml": (b"not xml at all", "malformed"),
    "other-root": (b"<html><body/></html>", "not <xml>"),
}


@pytest.mark.parametrize(("body", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_or_broken_bodies_are_refused_cleanly(body: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason) as refused:
        parse_message(body)
    assert refused.value.polite.startswith("消息格式无法识别")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<xml><MsgType>text</MsgType></xml>", "FromUserName"),
        (inbound_xml("o1; DROP TABLE", "text", Content="x"), "openid"),
        (
            inbound_xml(OPENID, "text", created=0, Content="x").replace(b">0<", b">soon<"),
            "CreateTime",
        ),
        (inbound_xml(OPENID, "event", Event=""), "Event"),
        (inbound_xml(OPENID, "", Content="x"), "MsgType"),
        (inbound_xml(OPENID, "image", msg_id=1, PicUrl="http://x"), "MediaId"),
        (
            inbound_xml(OPENID, "text", Content="x").replace(
                b"</xml>", b"<MsgId>1e9</MsgId></xml>"
            ),
            "MsgId",
        ),
    ],
)
def test_bodies_missing_what_wechat_always_sends_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        parse_message(body)


def test_the_passive_reply_is_wechats_text_reply() -> None:
    to = parse_message(inbound_xml(OPENID, "text", msg_id=1, Content="申请"))
    reply = text_reply(to, "请问您家住哪个村？", now=CREATED + 1)
    assert reply == (
        f"<xml><ToUserName><![CDATA[{OPENID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{ACCOUNT}]]></FromUserName>"
        f"<CreateTime>{CREATED + 1}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[请问您家住哪个村？]]></Content></xml>"
    )


@given(st.text(max_size=600))
def test_any_reply_text_comes_back_intact_through_an_xml_parser(text: str) -> None:
    to = parse_message(inbound_xml(OPENID, "text", msg_id=1, Content="x"))
    reply = text_reply(to, text, now=1)
    # Hypothesis' text has no surrogates; XML 1.0 also forbids most C0 controls and FFFE/FFFF.
    legal = "".join(ch for ch in text if ch in "\t\n\r" or (ch >= " " and ch not in "\ufffe\uffff"))
    # expat reports a CR as LF, as every XML parser must.
    expected = legal.replace("\r\n", "\n").replace("\r", "\n")
    assert parse_flat(reply.encode("utf-8"))["Content"] == expected


def test_a_reply_cannot_break_out_of_its_content() -> None:
    to = parse_message(inbound_xml(OPENID, "text", msg_id=1, Content="x"))
    text = "]]></Content><MsgType>news</MsgType><Content><![CDATA["
    fields = parse_flat(text_reply(to, text, now=1).encode())
    assert fields["Content"] == text
    assert fields["MsgType"] == "text"


def test_a_reply_over_2048_bytes_is_refused_so_the_caller_splits_it() -> None:
    to = parse_message(inbound_xml(OPENID, "text", msg_id=1, Content="x"))
    assert text_reply(to, "好" * 682, now=1)  # 2,046 bytes
    with pytest.raises(ValueError, match="2,048"):
        text_reply(to, "好" * 683, now=1)
