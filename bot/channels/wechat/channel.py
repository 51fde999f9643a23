"""The WeChat Official Account (公众号) channel at ``/channels/wechat``.

**GET** is WeChat's server-URL check: ``signature``, ``timestamp``, ``nonce`` signed with
``HOTLINE_WECHAT_TOKEN``; the answer echoes ``echostr``. **POST** is a message or event, in
plain mode (the query's ``signature``) or safe mode (``encrypt_type=aes``: the body is
opened with ``HOTLINE_WECHAT_AES_KEY`` after checking ``msg_signature``; the answer is
sealed the same way).

A message is stored and answered in one transaction (:meth:`Conversations.receive`), like on
every channel. WeChat waits 5 seconds for the HTTP answer and then retries, so:

* answered within ``HOTLINE_WECHAT_REPLY_SECONDS`` (4 by default): the replies go back as
  the passive reply (one text, choices as numbered lines, "回复数字");
* later: the answer is ``success`` (WeChat shows nothing and does not retry) and the
  replies, once ready, go through the outbox as customer-service messages;
* a redelivery answers ``success`` and queues the first replies again under the same
  keys, so a reply lost with an HTTP answer arrives once, by customer service;
* with ``HOTLINE_WECHAT_MSGMENU`` on, replies with choices always go by customer service
  as a tappable ``msgmenu``; a tap comes back as text carrying the choice's id.

What arrives: text (a bare number presses a numbered choice, see :mod:`bot.numbered`);
voice (WeChat's recognition text when the account has it on, else kept for a cadre like a
photo); images (kept); ``subscribe`` / ``SCAN`` with a ``v_<village>`` scene (a poster's
parametric QR code) bind the village like a Telegram deep link; ``CLICK`` on the custom
menu (申请 / 查进度 / 反映问题 / 人工); ``unsubscribe`` stops every message to the person.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.config import Settings
from bot.conversation import Answered, Conversations, Incoming
from bot.flow import Input
from bot.render import Rendered
from intake.attachments import Attachment, AttachmentKind, FileInfo
from intake.json_limits import read_body
from intake.outage import StorageUnavailable, outage_guard
from notifications.outbox import Priority, enqueue, stop_recipient
from notifications.ratelimit import Limits

from .api import WeChatApi
from .crypto import MessageCipher, SignatureError, check_signature, verify_url
from .menu import build_menu
from .messages import (
    NO_REPLY,
    ImageMessage,
    Inbound,
    MenuClick,
    MessageError,
    Scan,
    Subscribe,
    TextMessage,
    Unsubscribe,
    VoiceMessage,
    parse_message,
    text_reply,
)
from .outcomes import WeChatError
from .safexml import XmlRejected
from .sender import CHANNEL, MAX_TEXT, SmsFallback, WeChatSender

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
#: The custom menu's click keys (:data:`.menu.HOTLINE_MENU`) as the engine's input.
#: 申请 presses the menu's own choice (stale, so the question asked is asked again, when
#: the person is already mid-way); 反映问题 goes to a person until the report dialog is on.
MENU_INPUTS = {
    "apply": Input(data="choose:apply"),
    "status": Input(data="g:status"),
    "report": Input(data="g:human"),
    "human": Input(data="g:human"),
}
_REFUSED = "签名不对，消息没有收下。The signature is not valid; the message was not accepted."
_UNAVAILABLE = (
    "系统暂时忙不过来，请稍后再发一次。The service is briefly unavailable; send it again."
)
_TOO_LARGE = "消息太大，没有收下。The message is too large."


class WeChatChannel(Channel[Inbound]):
    """One Official Account: the callback route, the passive reply, the sender."""

    name = CHANNEL
    capabilities = Capabilities(buttons=False, max_text=MAX_TEXT, markup=None, inline=True)

    def __init__(
        self,
        conversations: Conversations,
        api: WeChatApi,
        *,
        token: str,
        cipher: MessageCipher | None = None,
        path: str = "/channels/wechat",
        reply_seconds: float = 4.0,
        sender: WeChatSender | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__()
        self.conversations = conversations
        self.api = api
        self.token = token
        self.cipher = cipher
        self.path = path
        self.reply_seconds = reply_seconds
        self.sender = self.wechat_sender = sender or WeChatSender(api)
        self.limits = limits or Limits(per_second=20.0, per_recipient_interval=0.5)
        self.opener = self.open_file
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- decoding

    def decode(self, raw: Inbound) -> Incoming | None:
        """What arrived as the engine's input; ``None`` for ``unsubscribe``."""
        meta: dict[str, Any] = {}
        if isinstance(raw, TextMessage):
            given = Input(data=raw.menu_id) if raw.menu_id else Input(text=raw.content)
            meta["numbered"] = raw.menu_id is None
        elif isinstance(raw, VoiceMessage) and raw.recognition:
            given, meta["numbered"] = Input(text=raw.recognition), True
        elif isinstance(raw, VoiceMessage | ImageMessage):
            given = Input()
            meta.update(_kept_file(raw))
        elif isinstance(raw, Subscribe | Scan):
            given = Input(start=True, payload=raw.scene)
        elif isinstance(raw, MenuClick):
            given = MENU_INPUTS.get(raw.key, Input(start=True))
        elif isinstance(raw, Unsubscribe):
            return None
        else:
            given, meta["aside"] = Input(), "telegram.unsupported"
        return Incoming(CHANNEL, raw.external_id, raw.openid, given, None, None, meta)

    async def open_file(self, attachment: Attachment) -> tuple[bytes, str | None]:
        """A voice note or photo, fetched from WeChat (which keeps media for 3 days)."""
        media = await self.api.download_media(attachment.file_id)
        return media.data, media.content_type or attachment.mime

    # ----------------------------------------------------------------- routes

    def router(self) -> APIRouter:
        """GET (the URL check) and POST (messages) at ``HOTLINE_WECHAT_PATH``."""
        api = APIRouter()

        @api.get(self.path, include_in_schema=False)
        async def wechat_verify(request: Request) -> Response:
            q = request.query_params
            try:
                echo = verify_url(
                    self.token, q.get("signature", ""), q.get("timestamp", ""),
                    q.get("nonce", ""), q.get("echostr", ""),
                )  # fmt: skip
            except SignatureError:
                return PlainTextResponse(_REFUSED, status_code=403)
            return PlainTextResponse(echo)

        @api.post(self.path, include_in_schema=False)
        async def wechat_message(request: Request) -> Response:
            return await self.receive(request)

        return api

    async def receive(self, request: Request) -> Response:
        """Check, open, decode, answer (see the module docstring)."""
        q = request.query_params
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return PlainTextResponse(_TOO_LARGE, status_code=413)
        safe = q.get("encrypt_type") == "aes"
        stamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            inner = self._open(body, q, safe=safe)
            message = parse_message(inner)
        except SignatureError:
            return PlainTextResponse(_REFUSED, status_code=403)
        except (XmlRejected, MessageError, ValueError) as error:
            # Signed by WeChat yet unreadable: an error status would only bring retries.
            log.warning(
                "wechat: unreadable message (%d bytes, %s)", len(body), type(error).__name__
            )
            return PlainTextResponse(NO_REPLY)
        try:
            text = await self._answer(message)
        except StorageUnavailable:
            return PlainTextResponse(_UNAVAILABLE, status_code=503, headers={"retry-after": "5"})
        if text is None:
            return PlainTextResponse(NO_REPLY)
        xml = text_reply(message, text, now=int(time.time()))
        if safe and self.cipher is not None:
            xml = self.cipher.seal(xml, timestamp=stamp or str(int(time.time())), nonce=nonce)
        return Response(xml, media_type="application/xml")

    def _open(self, body: bytes, query: Mapping[str, str], *, safe: bool) -> bytes:
        """The message XML, once its signature is checked (and, in safe mode, decrypted)."""
        stamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if safe:
            if self.cipher is None:
                raise SignatureError("safe mode without HOTLINE_WECHAT_AES_KEY")
            given = query.get("msg_signature", "")
            return self.cipher.open(body, msg_signature=given, timestamp=stamp, nonce=nonce)
        if not check_signature(self.token, query.get("signature", ""), stamp, nonce):
            raise SignatureError("signature does not match")
        return body

    # ----------------------------------------------------------------- answering

    async def _answer(self, message: Inbound) -> str | None:
        """The passive reply's text, or ``None`` (answer ``success``; replies queued)."""
        if isinstance(message, Unsubscribe):
            await run_in_threadpool(self._unsubscribed, message.openid)
            return None
        incoming = self.decode(message)
        assert incoming is not None
        work = asyncio.ensure_future(run_in_threadpool(self.conversations.receive, incoming))
        done, _ = await asyncio.wait({work}, timeout=self.reply_seconds)
        if not done:
            self._spawn(self._queue_when_done(work, incoming))
            return None
        outcome = work.result()
        inline = self._inline(outcome)
        if inline is None:
            await run_in_threadpool(self._queue, incoming, outcome.replies)
            self.wake()
        return inline

    def _inline(self, outcome: Answered) -> str | None:
        """One passive text for the replies, or ``None`` when they must go by the outbox."""
        if outcome.duplicate or not outcome.replies:
            return None
        if self.wechat_sender.msgmenu and any(r.buttons for r in outcome.replies):
            return None
        text = "\n\n".join(part.text for part in self.present(outcome.replies))
        if len(text) > MAX_TEXT or len(text.encode()) > 2000:
            return None
        return text

    async def _queue_when_done(self, work: asyncio.Future[Answered], incoming: Incoming) -> None:
        try:
            outcome = await work
            await run_in_threadpool(self._queue, incoming, outcome.replies)
        except Exception as error:  # the message stays stored: recovery answers it
            log.warning("wechat: late answer not queued (%s)", type(error).__name__)
            return
        self.wake()

    def _queue(self, incoming: Incoming, replies: tuple[Rendered, ...]) -> None:
        """The replies to customer service, keyed so a second queueing adds nothing."""
        key = hashlib.sha256(incoming.external_id.encode()).hexdigest()[:40]
        now = self.conversations.clock()
        with outage_guard(), self.conversations.db.write() as db:
            for number, reply in enumerate(replies):
                enqueue(
                    db,
                    channel=CHANNEL,
                    recipient=incoming.sender,
                    payload=reply.to_json(),
                    priority=Priority.INTERACTIVE,
                    dedupe_key=f"wechat-reply:{key}:{number}",
                    now=now,
                )

    def _unsubscribed(self, openid: str) -> None:
        now = self.conversations.clock()
        with outage_guard(), self.conversations.db.write() as db:
            stop_recipient(db, channel=CHANNEL, recipient=openid, now=now, reason="unsubscribed")

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Publish the custom menu (申请 / 查进度 / 反映问题 / 人工) in the background: the
        web service comes up whether or not WeChat answers."""
        self._spawn(self._publish_menu())

    async def _publish_menu(self) -> None:
        try:
            await self.api.create_menu(build_menu())
        except WeChatError as error:  # the account may lack the menu right; logged, not fatal
            log.warning("wechat: custom menu not published (errcode %s)", error.errcode)

    async def stop(self) -> None:
        """Let late answers under way be queued."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)

    async def close(self) -> None:
        """Release the API client."""
        await self.api.aclose()


def _kept_file(raw: VoiceMessage | ImageMessage) -> dict[str, Any]:
    if isinstance(raw, VoiceMessage):
        kind, mime = AttachmentKind.VOICE, f"audio/{raw.format.lower() or 'amr'}"
    else:
        kind, mime = AttachmentKind.PHOTO, "image/jpeg"
    file = FileInfo(kind=kind, file_id=raw.media_id, mime=mime)
    return {"aside": f"telegram.attachment.{kind.value}", "attachment": file.to_json()}


def _build(settings: Settings, services: Services) -> WeChatChannel | None:
    """The channel when the token, app id and secret are configured."""
    if not settings.wechat_enabled():
        return None
    token, app_id = str(settings.wechat_token), str(settings.wechat_app_id)
    api = WeChatApi(
        services.db,
        app_id=app_id,
        app_secret=str(settings.wechat_app_secret),
        base_url=settings.wechat_api_url,
        clock=services.clock,
    )
    cipher = (
        MessageCipher(token, settings.wechat_aes_key, app_id) if settings.wechat_aes_key else None
    )
    sms = None
    if settings.wechat_sms_template and settings.sms_enabled():
        sms = SmsFallback(
            services.db, services.cipher, template=settings.wechat_sms_template, now=services.clock
        )
    sender = WeChatSender(
        api, msgmenu=settings.wechat_msgmenu, template_id=settings.wechat_template_id, sms=sms
    )
    return WeChatChannel(
        services.conversations,
        api,
        token=token,
        cipher=cipher,
        path=settings.wechat_path,
        reply_seconds=settings.wechat_reply_seconds,
        sender=sender,
        limits=Limits(per_second=settings.wechat_messages_per_second, per_recipient_interval=0.5),
    )


FACTORY = ChannelFactory(CHANNEL, inline=True, build=_build)
