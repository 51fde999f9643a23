"""The fake WeChat API answers as WeChat documents (so client tests mean something)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .wechat_api import APP_ID, APP_SECRET, FakeWeChat


@pytest.fixture(scope="module")
def wx() -> Iterator[FakeWeChat]:
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def http(wx: FakeWeChat) -> Iterator[httpx.Client]:
    wx.reset()
    with httpx.Client(base_url=wx.base_url) as client:
        yield client


def _token(http: httpx.Client, secret: str = APP_SECRET, appid: str = APP_ID) -> dict[str, object]:
    query = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    answer: dict[str, object] = http.get("/cgi-bin/token", params=query).json()
    return answer


def _send(http: httpx.Client, token: object, content: bytes) -> dict[str, object]:
    answer: dict[str, object] = http.post(
        "/cgi-bin/message/custom/send", params={"access_token": str(token)}, content=content
    ).json()
    return answer


TEXT = '{"touser":"o1","msgtype":"text","text":{"content":"好"}}'.encode()


def test_credentials_are_checked(http: httpx.Client) -> None:
    assert _token(http, secret="wrong")["errcode"] == 40125
    assert _token(http, appid="wx0")["errcode"] == 40013
    issued = _token(http)
    assert issued["expires_in"] == 7200 and len(str(issued["access_token"])) > 100


def test_a_superseded_token_works_five_more_minutes(wx: FakeWeChat, http: httpx.Client) -> None:
    wx.user_writes("o1")
    old = _token(http)["access_token"]
    new = _token(http)["access_token"]
    assert _send(http, old, TEXT)["errcode"] == 0
    wx.advance(301)
    assert _send(http, old, TEXT)["errcode"] == 40001
    assert _send(http, new, TEXT)["errcode"] == 0


def test_tokens_expire_after_their_lifetime(wx: FakeWeChat, http: httpx.Client) -> None:
    wx.user_writes("o1")
    token = _token(http)["access_token"]
    wx.advance(7200)
    assert _send(http, token, TEXT)["errcode"] == 42001
    assert _send(http, "", TEXT)["errcode"] == 41001


def test_bodies_must_be_utf8_json(wx: FakeWeChat, http: httpx.Client) -> None:
    wx.user_writes("o1")
    token = _token(http)["access_token"]
    assert _send(http, token, b"{not json")["errcode"] == 47001
    assert _send(http, token, b"")["errcode"] == 44002
    assert _send(http, token, "好".encode("gbk"))["errcode"] == 47001


def test_media_errors_are_json_in_text_plain(wx: FakeWeChat, http: httpx.Client) -> None:
    token = _token(http)["access_token"]
    answer = http.get("/cgi-bin/media/get", params={"access_token": str(token), "media_id": "x"})
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.json()["errcode"] == 40007
    assert wx.calls[-1].errcode == 40007 and not wx.calls[-1].ok
