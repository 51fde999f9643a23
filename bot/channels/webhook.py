"""The generic JSON webhook channel: a web chat, an SMS gateway or a WeChat bridge.

Inbound: ``POST /channels/webhook`` with a JSON body and two headers,
``X-Hotline-Timestamp`` (Unix seconds) and ``X-Hotline-Signature`` (``sha256=`` + hex
HMAC-SHA256 of ``"{timestamp}.{body}"`` under the shared secret). Body::

    {"id": "6f1d0c2a-7b", "from": "user-42", "type": "text", "text": "你好", "language": "zh_CN"}
    {"id": "6f1d0c2a-7c", "from": "user-42", "type": "button", "data": "illness:yes"}
    {"id": "9a3e51b0-01", "from": "user-77", "type": "start", "payload": "v_gangkou-bailing"}

The answer is ``{"id", "duplicate", "replies": [{"text", "buttons": [{"label", "data"}]}]}``;
a reply whose question is answered by typing (an amount, a name) also carries
``"free_answer": true``: its buttons are shortcuts, and a gateway that shows choices as
numbered lines should letter them instead (see :mod:`bot.numbered`).
A message is known by its sender *and* its id: the same ``(from, id)`` again is a
redelivery, answered with its first replies and changing nothing; another sender's
message with the same id is a different message (gateways number per conversation, and
a collision must never hand one villager another's replies).

The body is read by :mod:`intake.json_limits`: anything it refuses, and anything
not of the shape above, is a 400 with a polite message in Chinese and English. While the
database is away the answer is 503 with ``Retry-After``: nothing was kept, send it again.
Outbound messages nobody asked for (notices, reminders) are POSTed, signed the same
way, to the configured callback URL by :class:`WebhookSender` through the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.config import Settings
from bot.conversation import Conversations, Incoming
from bot.engine import Input
from intake.json_limits import JsonRejected, loads, read_body
from intake.outage import StorageUnavailable
from notifications.sender import Delivered, Failed, Outcome, RetryLater

if TYPE_CHECKING:
    from bot.services import Services

CHANNEL = "webhook"
MAX_SKEW_SECONDS = 300
#: How long a sender is asked to wait while the database is away.
RETRY_AFTER_SECONDS = 10

_ERRORS = {
    "bad_signature": "签名不对，消息没有收下。"
    "The signature is not valid; the message was not accepted.",
    "too_large": "消息太长了，请分几次发。The message is too large; please send it in parts.",
    "invalid_json": "消息格式不对，没看懂。"
    "The body is not valid JSON, or goes beyond its limits (see reason).",
    "invalid_message": "消息缺少必要内容。The message is missing required fields.",
    "unavailable": "系统暂时忙不过来，这条消息没有收下，请稍后再发一次。"
    "The service is briefly unavailable; the message was not kept, please send it again.",
}


class WebhookMessage(BaseModel):
    """The documented inbound shape."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    sender: str = Field(alias="from", min_length=1, max_length=128)
    type: Literal["text", "button", "start"] = "text"
    text: str = Field(default="", max_length=16_000)
    data: str | None = Field(default=None, max_length=64)
    payload: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)

    def incoming(self) -> Incoming:
        """The channel-neutral message."""
        given = Input(
            text=self.text if self.type == "text" else "",
            data=self.data if self.type == "button" else None,
            start=self.type == "start",
            payload=self.payload,
        )
        return Incoming(
            CHANNEL, external_id(self.sender, self.id), self.sender, given, self.language
        )


def external_id(sender: str, message_id: str) -> str:
    """The stored id of ``sender``'s message ``message_id``: unique per sender, 71 characters.

    A digest, because sender and id together may be 256 characters and the column holds
    128; JSON-encoded first, so ``("a:b", "c")`` and ``("a", "b:c")`` stay apart.
    """
    both = json.dumps([sender, message_id], ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(both).hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _error(status: int, code: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": _ERRORS[code], **extra}, status_code=status)


def router(
    conversations: Conversations,
    *,
    secret: str,
    max_body_bytes: int = 64 * 1024,
    clock: Any = time.time,
) -> APIRouter:
    """The inbound route, bound to the conversation service and the shared secret."""
    api = APIRouter()

    @api.post("/channels/webhook", tags=["channels"])
    async def inbound(request: Request) -> JSONResponse:
        body = await read_body(request, max_body_bytes)
        if body is None:
            return _error(413, "too_large")
        timestamp = request.headers.get("x-hotline-timestamp", "")
        given = request.headers.get("x-hotline-signature", "")
        if not _fresh(timestamp, clock()) or not hmac.compare_digest(
            sign(secret, timestamp, body), given
        ):
            return _error(401, "bad_signature")
        try:
            raw = loads(body)
        except JsonRejected as rejected:
            return _error(400, "invalid_json", reason=rejected.reason)
        try:
            message = WebhookMessage.model_validate(raw)
        except ValidationError as invalid:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in invalid.errors()})
            return _error(400, "invalid_message", fields=fields)
        try:
            outcome = await run_in_threadpool(conversations.receive, message.incoming())
        except StorageUnavailable:
            response = _error(503, "unavailable")
            response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
            return response
        return JSONResponse(
            {
                "id": message.id,
                "duplicate": outcome.duplicate,
                "replies": [r.to_json() for r in outcome.replies],
            }
        )

    return api


def _fresh(timestamp: str, now: float) -> bool:
    try:
        return abs(now - float(timestamp)) <= MAX_SKEW_SECONDS
    except ValueError:
        return False


class WebhookSender:
    """Delivers outbox rows to the integrator's callback URL, signed like inbound."""

    channel = CHANNEL

    def __init__(self, url: str, secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.secret = secret
        self.client = client or httpx.AsyncClient(timeout=10)

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """POST ``{"to", "text", "buttons"}``; 2xx is delivered, 429/5xx retried."""
        body = json.dumps({"to": recipient, **payload}, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-hotline-timestamp": stamp,
            "x-hotline-signature": sign(self.secret, stamp, body),
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.ConnectError as error:
            return RetryLater(f"connect: {type(error).__name__}")
        except httpx.HTTPError as error:
            return RetryLater(f"http: {type(error).__name__}")
        if response.is_success:
            return Delivered()
        if response.status_code == 429 or response.status_code >= 500:
            after = response.headers.get("retry-after", "0")
            return RetryLater(
                f"HTTP {response.status_code}", float(after) if after.isdigit() else 0
            )
        return Failed(f"HTTP {response.status_code}")


class WebhookChannel(Channel[WebhookMessage]):
    """The JSON webhook as a channel: replies in the response; notices to the callback URL."""

    name = CHANNEL
    capabilities = Capabilities(buttons=True, max_text=16_000, markup=None, inline=True)

    def __init__(
        self,
        conversations: Conversations,
        *,
        secret: str,
        max_body_bytes: int = 64 * 1024,
        callback_url: str | None = None,
    ) -> None:
        super().__init__()
        self.conversations = conversations
        self.secret = secret
        self.max_body_bytes = max_body_bytes
        self._sender = WebhookSender(callback_url, secret) if callback_url else None
        self.sender = self._sender

    def decode(self, raw: WebhookMessage) -> Incoming:
        """The documented body as the engine's input."""
        return raw.incoming()

    def router(self) -> APIRouter:
        """``POST /channels/webhook``."""
        return router(self.conversations, secret=self.secret, max_body_bytes=self.max_body_bytes)

    async def close(self) -> None:
        """Release the callback client."""
        if self._sender is not None:
            await self._sender.client.aclose()


def _build(settings: Settings, services: Services) -> WebhookChannel:
    """Always on: the route refuses every unsigned message, so it costs nothing unused."""
    return WebhookChannel(
        services.conversations,
        secret=settings.resolved_secret("webhook_secret"),
        max_body_bytes=settings.webhook_max_body_bytes,
        callback_url=settings.webhook_callback_url,
    )


FACTORY = ChannelFactory(CHANNEL, inline=True, build=_build)
