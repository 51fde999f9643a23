"""What the fake WeChat API knows and how each endpoint answers: see :mod:`.wechat_api`.

Pure state and rules, no HTTP: every method runs under the server's lock and either returns
the JSON answer or raises :class:`ApiError` carrying WeChat's ``errcode`` and ``errmsg``.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

#: WeChat's own wording for the codes the fake gives (errmsg is followed by a request id).
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    40097: "invalid args",
}
#: WeChat's limits on the custom menu.
MENU_TOP, MENU_SUB, TOP_NAME, SUB_NAME, KEY_BYTES = 3, 5, 16, 60, 128
#: A superseded token keeps working this long after a new one is issued.
OVERLAP = 300.0


class ApiError(Exception):
    """An answer with a non-zero ``errcode`` (HTTP 200, as WeChat answers errors)."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode

    def body(self) -> JSON:
        return {"errcode": self.errcode, "errmsg": f"{ERRMSG.get(self.errcode, 'error')} rid: fake"}


@dataclass
class IssuedToken:
    """One access token and how long it lives."""

    expires: float
    retired: float | None = None  #: when a newer token makes it stop working
    refused: int | None = None  #: forced answer (40001 or 42001) from ``expire_tokens``


@dataclass
class Follower:
    """What WeChat knows about one openid."""

    subscribed: bool = True
    last_message: float | None = None  #: opens the 48-hour customer-service window
    cs_sent: int = 0  #: customer-service messages since ``last_message``


@dataclass
class Media:
    data: bytes
    content_type: str
    filename: str


@dataclass
class WeChatState:
    """Accounts, tokens, followers, media, menus and QR codes of one fake app."""

    app_id: str
    app_secret: str
    token_ttl: int = 7200
    window: float = 48 * 3600
    cs_cap: int = 5
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    followers: dict[str, Follower] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    templates: set[str] = field(default_factory=set)
    menu: JSON | None = None
    qr_codes: dict[str, str] = field(default_factory=dict)  #: ticket -> scene
    sent: list[JSON] = field(default_factory=list)  #: delivered message bodies, in order
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # ----------------------------------------------------------------- tokens

    def issue_token(self, query: dict[str, str], now: float) -> JSON:
        if query.get("grant_type") != "client_credential":
            raise ApiError(40097)
        if query.get("appid") != self.app_id:
            raise ApiError(40013)
        if not secrets.compare_digest(query.get("secret", ""), self.app_secret):
            raise ApiError(40125)
        for issued in self.tokens.values():
            if issued.retired is None:
                issued.retired = now + OVERLAP
        token = secrets.token_urlsafe(96)  # real tokens are 130+ characters
        self.tokens[token] = IssuedToken(expires=now + self.token_ttl)
        return {"access_token": token, "expires_in": self.token_ttl}

    def check_token(self, token: str | None, now: float) -> None:
        if not token:
            raise ApiError(41001)
        issued = self.tokens.get(token)
        if issued is None or (issued.retired is not None and now >= issued.retired):
            raise ApiError(40001)
        if issued.refused is not None:
            raise ApiError(issued.refused)
        if now >= issued.expires:
            raise ApiError(42001)

    def refuse_tokens(self, errcode: int) -> None:
        for issued in self.tokens.values():
            issued.refused = errcode

    # ----------------------------------------------------------------- messages

    def custom_send(self, body: JSON, now: float) -> JSON:
        openid = _openid(body)
        person = self.followers.get(openid)
        if person is None:
            raise ApiError(40003)
        if not person.subscribed or person.last_message is None:
            raise ApiError(45015)
        if now - person.last_message > self.window:
            raise ApiError(45015)
        if person.cs_sent >= self.cs_cap:
            raise ApiError(45047)
        _check_custom_body(body)
        person.cs_sent += 1
        self.sent.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def template_send(self, body: JSON) -> JSON:
        openid = _openid(body)
        person = self.followers.get(openid)
        if person is None:
            raise ApiError(40003)
        if not person.subscribed:
            raise ApiError(43004)
        if body.get("template_id") not in self.templates:
            raise ApiError(40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            raise ApiError(47001)
        self.sent.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)}

    # ----------------------------------------------------------------- account set-up

    def create_menu(self, body: JSON) -> JSON:
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MENU_TOP:
            raise ApiError(40016)
        for button in buttons:
            subs = button.get("sub_button")
            _check_button(button, TOP_NAME, has_subs=bool(subs))
            if subs is not None:
                if not isinstance(subs, list) or len(subs) > MENU_SUB:
                    raise ApiError(40016)
                for sub in subs:
                    _check_button(sub, SUB_NAME, has_subs=False)
        self.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    def create_qr(self, body: JSON) -> JSON:
        action = body.get("action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise ApiError(40097)
        elif action in ("QR_SCENE", "QR_LIMIT_SCENE"):
            value = str(scene.get("scene_id", ""))
        else:
            raise ApiError(40097)
        ticket = f"gQ{secrets.token_urlsafe(24)}=="
        self.qr_codes[ticket] = value
        answer: JSON = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[2:12]}"}
        if action in ("QR_SCENE", "QR_STR_SCENE"):
            seconds = int(body.get("expire_seconds", 60))
            if not 60 <= seconds <= 2592000:
                raise ApiError(40097)
            answer["expire_seconds"] = seconds
        return answer

    def get_media(self, media_id: str | None) -> Media:
        found = self.media.get(media_id or "")
        if found is None:
            raise ApiError(40007)
        return found


def _openid(body: JSON) -> str:
    openid = body.get("touser")
    if not isinstance(openid, str) or not openid:
        raise ApiError(40003)
    return openid


def _check_custom_body(body: JSON) -> None:
    kind = body.get("msgtype")
    if kind == "text":
        content = (body.get("text") or {}).get("content")
        if not isinstance(content, str) or not content:
            raise ApiError(44002)
    elif kind == "msgmenu":
        menu = body.get("msgmenu") or {}
        items = menu.get("list")
        if not isinstance(items, list) or not items:
            raise ApiError(47001)
        if not all(isinstance(i, dict) and i.get("id") and i.get("content") for i in items):
            raise ApiError(47001)
    else:
        raise ApiError(40097)


def _check_button(button: Any, name_limit: int, *, has_subs: bool) -> None:
    if not isinstance(button, dict):
        raise ApiError(47001)
    name = button.get("name")
    if not isinstance(name, str) or not 1 <= len(name.encode()) <= name_limit:
        raise ApiError(40018)
    if has_subs:
        return
    if button.get("type") not in ("click", "view", "miniprogram", "scancode_push"):
        raise ApiError(40017)
    key = button.get("key")
    if button["type"] == "click" and (
        not isinstance(key, str) or not 1 <= len(key.encode()) <= KEY_BYTES
    ):
        raise ApiError(40019)
