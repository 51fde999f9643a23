"""WeChat's signatures and safe mode: Tencent's sample vectors, round trips, every refusal."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fakes.wechat_xml import inbound_xml, safe_mode_post
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.wechat.crypto import (
    DecryptError,
    MessageCipher,
    SignatureError,
    check_signature,
    verify_url,
)
from bot.channels.wechat.messages import TextMessage, parse_message
from bot.channels.wechat.safexml import XmlRejected

# Tencent's sample (the WeCom documentation's, as wechatpy's tests carry it): same
# algorithm, the corp id in the place of an Official Account's app id.
SAMPLE_TOKEN = "123456"
SAMPLE_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
SAMPLE_APP = "wx49f0ab532d5d035a"
SAMPLE_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
SAMPLE_SEALED = """<xml>
<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>
<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>
<TimeStamp>1411525903</TimeStamp>
<Nonce><![CDATA[461056294]]></Nonce>
</xml>"""
SAMPLE_POST = b"""<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>
<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>
<AgentID><![CDATA[1]]></AgentID>
</xml>"""
SAMPLE_POST_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"

KEY = "Fq1tZo7aEJZ6rYw1cVq8yWc3hQ0xL2bN5mK9sD4gT6u"
APP = "wx5fa1e0c0ffee0042"


@pytest.fixture
def cipher() -> MessageCipher:
    return MessageCipher("hotline-token", KEY, APP)


def test_the_url_check_matches_the_published_signature() -> None:
    # wechatpy's check_signature vector: token "test", timestamp 1410685589, nonce "test".
    signature = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    assert check_signature("test", signature, "1410685589", "test")
    assert verify_url("test", signature, "1410685589", "test", "echo-42") == "echo-42"
    assert verify_url("test", signature.upper(), "1410685589", "test", "e") == "e"


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce"),
    [("other", "1410685589", "test"), ("test", "1410685590", "test"), ("test", "1410685589", "")],
)
def test_the_url_check_refuses_any_other_parameters(token: str, timestamp: str, nonce: str) -> None:
    signature = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    assert not check_signature(token, signature, timestamp, nonce)
    with pytest.raises(SignatureError):
        verify_url(token, signature, timestamp, nonce, "echo")


def test_a_signature_of_non_ascii_junk_is_refused_not_crashed() -> None:
    assert not check_signature("test", "签名" * 20, "1410685589", "test")


def test_sealing_a_reply_reproduces_tencents_sample() -> None:
    sample = MessageCipher(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP)
    sealed = sample.seal(
        SAMPLE_REPLY, timestamp="1411525903", nonce="461056294", random_prefix=b"1234567890123456"
    )
    assert sealed == SAMPLE_SEALED


def test_opening_tencents_sample_post_gives_the_message() -> None:
    sample = MessageCipher(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP)
    inner = sample.open(
        SAMPLE_POST, msg_signature=SAMPLE_POST_SIGNATURE, timestamp="1411525903", nonce="461056294"
    )
    message = parse_message(inner)
    assert isinstance(message, TextMessage)
    assert (message.content, message.openid, message.msg_id) == (
        "test",
        "messense",
        "4363689963896700987",
    )


def test_encryption_matches_an_independent_aes_computation(cipher: MessageCipher) -> None:
    """The layout spelled out with ``cryptography`` directly: random, length, text, app id,
    padded to 32 bytes, key from base64, IV the key's first 16 bytes."""
    text = "<xml><Content><![CDATA[我要申请]]></Content></xml>"
    prefix = bytes(range(16))
    raw = text.encode()
    plain = prefix + struct.pack(">I", len(raw)) + raw + APP.encode()
    pad = 32 - len(plain) % 32
    key = base64.b64decode(KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    expected = base64.b64encode(enc.update(plain + bytes([pad]) * pad) + enc.finalize()).decode()
    assert cipher.encrypt(text, random_prefix=prefix) == expected


@given(st.text(max_size=3000))
def test_any_text_survives_a_round_trip(text: str) -> None:
    cipher = MessageCipher("hotline-token", KEY, APP)
    encrypted = cipher.encrypt(text)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert cipher.decrypt(encrypted) == text


def test_a_callback_opens_only_with_its_own_signature(cipher: MessageCipher) -> None:
    inner = inbound_xml("oVillager01", "text", msg_id=1, Content="查进度")
    query, body = safe_mode_post(cipher, inner)
    opened = cipher.open(
        body,
        msg_signature=query["msg_signature"],
        timestamp=query["timestamp"],
        nonce=query["nonce"],
    )
    assert opened == inner
    with pytest.raises(SignatureError):
        cipher.open(body, msg_signature=query["signature"], timestamp=query["timestamp"], nonce="1")


def test_a_message_for_another_app_is_refused(cipher: MessageCipher) -> None:
    other = MessageCipher("hotline-token", KEY, "wx0000000000000000")
    with pytest.raises(DecryptError, match="another app"):
        cipher.decrypt(other.encrypt("<xml/>"))


def test_a_message_under_another_key_is_refused(cipher: MessageCipher) -> None:
    other = MessageCipher("hotline-token", SAMPLE_KEY, APP)
    with pytest.raises(DecryptError):
        cipher.decrypt(other.encrypt("<xml><Content>hi</Content></xml>"))


def _padded(plain: bytes) -> bytes:
    pad = 32 - len(plain) % 32
    return plain + bytes([pad]) * pad


def _sealed_raw(plain: bytes) -> str:
    key = base64.b64decode(KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


@pytest.mark.parametrize(
    ("encrypted", "reason"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"short").decode(), "whole AES blocks"),
        ("", "whole AES blocks"),
        (_sealed_raw(bytes(16) + struct.pack(">I", 999) + b"x" * 11 + bytes([1])), "runs past"),
        (_sealed_raw(bytes(31) + bytes([0])), "padding"),
        (_sealed_raw(bytes(31) + bytes([33])), "padding"),
        (_sealed_raw(bytes(31) + bytes([3])), "padding"),
        (
            _sealed_raw(_padded(bytes(16) + struct.pack(">I", 2) + b"\xff\xfe" + APP.encode())),
            "UTF-8",
        ),
    ],
)
def test_malformed_ciphertexts_are_refused_with_a_reason(
    cipher: MessageCipher, encrypted: str, reason: str
) -> None:
    with pytest.raises(DecryptError, match=reason):
        cipher.decrypt(encrypted)


@pytest.mark.parametrize("key", ["", "short", KEY + "A", KEY[:-1] + "!", "=" * 43])
def test_a_wrong_aes_key_setting_is_named(key: str) -> None:
    with pytest.raises(ValueError, match="HOTLINE_WECHAT_AES_KEY"):
        MessageCipher("t", key, APP)


def test_a_hostile_envelope_is_refused_before_any_decryption(cipher: MessageCipher) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    )
    with pytest.raises(XmlRejected, match="DOCTYPE"):
        cipher.open(bomb, msg_signature="0" * 40, timestamp="1", nonce="1")
    with pytest.raises(XmlRejected, match="Encrypt"):
        cipher.open(
            b"<xml><ToUserName>x</ToUserName></xml>", msg_signature="0", timestamp="1", nonce="1"
        )
