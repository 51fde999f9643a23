"""The WeChat channel under test: the app on uvicorn, the fake WeChat API, signed posts."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from conftest import FakeClock, LiveServer
from fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChat
from fakes.wechat_xml import inbound_xml, safe_mode_post, signed_query
from sqlmodel import col, select

from bot import inbound
from bot.app import create_app
from bot.channels.wechat.crypto import MessageCipher
from bot.channels.wechat.safexml import parse_flat
from bot.config import Settings
from bot.services import Services, build_services

TOKEN = "wechat-test-token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")


@dataclass
class WeChatWorld:
    """The app serving ``/channels/wechat`` and the fake API it talks to."""

    services: Services
    server: LiveServer
    wx: FakeWeChat
    cipher: MessageCipher

    @property
    def url(self) -> str:
        return f"{self.server.url}/channels/wechat"

    def post(self, body: bytes, *, token: str = TOKEN) -> httpx.Response:
        """A plain-mode callback, signed with ``token``."""
        return httpx.post(self.url, params=signed_query(token), content=body, timeout=30)

    def say(self, openid: str, msg_id: int, text: str) -> str:
        """Send a text; the passive reply's text ("" when the answer was ``success``)."""
        self.wx.user_writes(openid)
        response = self.post(inbound_xml(openid, "text", msg_id=msg_id, Content=text))
        assert response.status_code == 200, response.text
        return reply_text(response)

    def post_safe(self, inner: bytes) -> httpx.Response:
        """A safe-mode callback carrying ``inner``."""
        stamp = str(int(time.time()))
        query, body = safe_mode_post(self.cipher, inner, timestamp=stamp)
        return httpx.post(self.url, params=query, content=body, timeout=30)

    def last_buttons(self, openid: str) -> list[str]:
        """The choices' data under the last answered message of ``openid``, as stored."""
        row = inbound.InboundMessage
        with self.services.db.read() as db:
            found = db.exec(
                select(row)
                .where(row.channel == "wechat", row.sender == openid)
                .order_by(col(row.id).desc())
            ).first()
        replies = (found.replies or []) if found else []
        with_buttons = [r for r in replies if r.get("buttons")]
        return [b["data"] for b in with_buttons[-1]["buttons"]] if with_buttons else []


def reply_text(response: httpx.Response) -> str:
    """The ``<Content>`` of a passive reply, or "" for ``success``."""
    if response.text == "success":
        return ""
    return parse_flat(response.content)["Content"]


def wechat_settings(settings: Settings, wx: FakeWeChat, **changes: object) -> Settings:
    """``settings`` with the WeChat channel pointed at the fake."""
    return settings.model_copy(
        update={
            "wechat_token": TOKEN,
            "wechat_app_id": APP_ID,
            "wechat_app_secret": APP_SECRET,
            "wechat_aes_key": AES_KEY,
            "wechat_api_url": wx.base_url,
            **changes,
        }
    )


@contextmanager
def wechat_world(
    settings: Settings, clock: FakeClock, wx: FakeWeChat, **changes: object
) -> Iterator[WeChatWorld]:
    """The app with the WeChat channel on, served on a real port."""
    configured = wechat_settings(settings, wx, **changes)
    services = build_services(configured, clock=clock, rng=random.Random(2026))
    cipher = MessageCipher(TOKEN, AES_KEY, APP_ID)
    try:
        with LiveServer(create_app(configured, services)) as server:
            yield WeChatWorld(services, server, wx, cipher)
    finally:
        services.db.dispose()


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (a callable) until true, with a bound; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
