"""What an Official Account receives, as small frozen dataclasses, and the passive reply.

WeChat posts one ``<xml>`` document per message or event. :func:`parse_message` turns it
into one of :data:`Inbound` (or raises :class:`MessageError`); :func:`text_reply` renders
the text a villager sees as the HTTP answer (a "passive reply", allowed within 5 seconds).

Deduplication: WeChat retries a POST three times when we answer slowly. Messages carry
``MsgId``; events do not, and WeChat's documentation says to deduplicate them by sender
and ``CreateTime``: :attr:`InboundBase.external_id` does either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

from .safexml import XmlRejected, cdata, parse_flat

#: A QR code's scene arrives as ``qrscene_<scene>`` in the subscribe event of a new follower.
SCENE_PREFIX = "qrscene_"
#: What to answer when there is nothing to say: WeChat then shows nothing and does not retry.
NO_REPLY = "success"
#: A passive text reply may carry at most this many bytes of UTF-8 content.
MAX_REPLY_BYTES = 2048
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,20}")


class MessageError(ValueError):
    """A body that is not a WeChat message; ``reason`` is safe to log (no content).

    Raised only for what WeChat itself never sends, so a caller that has already checked
    the signature may answer :data:`NO_REPLY`: an error status makes WeChat retry and then
    tell the villager the account "cannot provide service".
    """

    #: For the HTTP answer: WeChat's servers never show it, a person testing by hand might.
    polite = "消息格式无法识别。/ The message could not be read."

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class InboundBase:
    """Fields every message and event has."""

    account: str  #: ToUserName: our account's original id (``gh_...``)
    openid: str  #: FromUserName: the sender, unique per Official Account
    created: int  #: CreateTime, Unix seconds
    msg_id: str | None = None

    @property
    def external_id(self) -> str:
        """A key unique per delivery: ``MsgId``, or sender and time for events."""
        return self.msg_id or f"{self.openid}:{self.created}"


@dataclass(frozen=True, kw_only=True)
class TextMessage(InboundBase):
    """Typed text, or a tap on a ``msgmenu`` choice (then ``menu_id`` is the choice's id)."""

    content: str
    menu_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class VoiceMessage(InboundBase):
    """A voice note; ``recognition`` is WeChat's transcript when speech recognition is on."""

    media_id: str
    format: str
    recognition: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImageMessage(InboundBase):
    """A photo (of a document, a house, a bill): fetch it by ``media_id`` within 3 days."""

    media_id: str
    pic_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Subscribe(InboundBase):
    """A new follower; ``scene`` is set when they came through a parametric QR code."""

    scene: str | None = None
    ticket: str | None = None


@dataclass(frozen=True, kw_only=True)
class Unsubscribe(InboundBase):
    """The person stopped following: nothing can be sent to them any more."""


@dataclass(frozen=True, kw_only=True)
class Scan(InboundBase):
    """A follower scanned a parametric QR code again (``scene`` without a prefix)."""

    scene: str
    ticket: str | None = None


@dataclass(frozen=True, kw_only=True)
class MenuClick(InboundBase):
    """A tap on a ``click`` button of the custom menu; ``key`` is the button's key."""

    key: str


@dataclass(frozen=True, kw_only=True)
class Unsupported(InboundBase):
    """Anything else (video, location, link, a menu ``VIEW``...): answer with a hint."""

    msg_type: str
    event: str | None = None


Inbound = (
    TextMessage
    | VoiceMessage
    | ImageMessage
    | Subscribe
    | Unsubscribe
    | Scan
    | MenuClick
    | Unsupported
)


def parse_message(body: bytes) -> Inbound:
    """The message in a (decrypted) callback body; :class:`MessageError` if it is not one."""
    try:
        fields = parse_flat(body)
    except XmlRejected as rejected:
        raise MessageError(rejected.reason) from None
    common = _common(fields)
    kind = _required(fields, "MsgType")
    if kind == "text":
        # A blank text is still a message (answered with the question again), not an error.
        content = fields.get("Content", "")
        return TextMessage(**common, content=content, menu_id=_optional(fields, "bizmsgmenuid"))
    if kind == "voice":
        return VoiceMessage(
            **common,
            media_id=_required(fields, "MediaId"),
            format=fields.get("Format", ""),
            recognition=_optional(fields, "Recognition"),
        )
    if kind == "image":
        return ImageMessage(
            **common, media_id=_required(fields, "MediaId"), pic_url=_optional(fields, "PicUrl")
        )
    if kind == "event":
        return _event(fields, common)
    return Unsupported(**common, msg_type=kind[:32])


def _event(fields: dict[str, str], common: _Common) -> Inbound:
    event = _required(fields, "Event").lower()
    key = fields.get("EventKey", "")
    ticket = _optional(fields, "Ticket")
    if event == "subscribe":
        scene = key[len(SCENE_PREFIX) :] if key.startswith(SCENE_PREFIX) else None
        return Subscribe(**common, scene=scene or None, ticket=ticket)
    if event == "unsubscribe":
        return Unsubscribe(**common)
    if event == "scan":
        return Scan(**common, scene=key, ticket=ticket)
    if event == "click":
        return MenuClick(**common, key=key)
    return Unsupported(**common, msg_type="event", event=event[:32])


class _Common(TypedDict):
    account: str
    openid: str
    created: int
    msg_id: str | None


def _common(fields: dict[str, str]) -> _Common:
    openid = _required(fields, "FromUserName")
    if not _OPENID.fullmatch(openid):
        raise MessageError("FromUserName is not an openid")
    created = _required(fields, "CreateTime")
    if not _DIGITS.fullmatch(created):
        raise MessageError("CreateTime is not a number")
    msg_id = _optional(fields, "MsgId")
    if msg_id is not None and not _DIGITS.fullmatch(msg_id):
        raise MessageError("MsgId is not a number")
    return {
        "account": _required(fields, "ToUserName"),
        "openid": openid,
        "created": int(created),
        "msg_id": msg_id,
    }


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise MessageError(f"missing <{name}>")
    return value


def _optional(fields: dict[str, str], name: str) -> str | None:
    return fields.get(name, "").strip() or None


def text_reply(to: InboundBase, text: str, *, now: int) -> str:
    """The passive reply XML answering ``to`` with ``text`` (at most 2,048 UTF-8 bytes).

    A longer text raises ``ValueError``: WeChat would drop the reply and show the villager
    "该公众号暂时无法提供服务", so the caller must send the rest by customer service.
    """
    if len(text.encode("utf-8")) > MAX_REPLY_BYTES:
        raise ValueError("a passive reply holds at most 2,048 bytes")
    return (
        f"<xml><ToUserName>{cdata(to.openid)}</ToUserName>"
        f"<FromUserName>{cdata(to.account)}</FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )
