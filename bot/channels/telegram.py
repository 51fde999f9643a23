"""The Telegram channel: python-telegram-bot 22 under FastAPI, or long polling for development.

**Webhook** (production): Telegram posts each update to ``HOTLINE_TELEGRAM_WEBHOOK_PATH``
(``/channels/telegram``) with the ``X-Telegram-Bot-Api-Secret-Token`` header that
``hotline telegram set-webhook`` registered. The route

1. refuses a missing or wrong secret with 403 (compared in constant time; the bot token
   never appears in a URL), an oversized body with 413, a malformed one with 400 - logged
   by size and a one-word reason only, never by content (updates carry ID and phone
   numbers). Malformed is anything :mod:`intake.json_limits` refuses (nesting,
   huge numbers, ids beyond 64 bits, lone surrogates, NaN) and any shape or type Telegram
   never sends (see :mod:`bot.channels.telegram_updates`);
2. parses the body with ``Update.de_json`` and hands it to :meth:`TelegramChannel.handle`,
   which stores *and answers* it in one transaction (:meth:`Conversations.receive`): the
   replies are written to the outbox in that same transaction;
3. answers 200 - only ever for an update that is stored with its answer. For a tapped
   button the 200 carries ``answerCallbackQuery`` in its body, which Telegram carries out
   (a webhook may answer with one Bot API call): the spinner stops without a request of
   ours. A redelivered update (same ``update_id``; for a button, the same pressed message)
   changes nothing. While the database is away it answers 503, so Telegram delivers the
   update again.

Answering before the 200 is a choice: the work is one short transaction (milliseconds),
while storing first and answering in the background would need a second durability path
and would let a reply overtake the one before it. Telegram holds at most
``max_connections`` requests open, so a slow database slows Telegram down instead of
piling up work in memory. The conversation service serialises one chat's updates (a
per-chat lock, then the contact's row lock on PostgreSQL) and takes them in ``update_id``
order; different chats run concurrently in the thread pool.

**Polling** (``hotline serve --telegram-polling``): ``getUpdates`` long polls feed the same
:meth:`handle`. The offset moves past an update only once it is stored and answered, so a
crash re-reads the batch and the redelivery is a no-op.

**Outbound** goes through the outbox dispatcher with :class:`TelegramSender` (see
:mod:`bot.channels.telegram_sender` for what each error means). The reply rows are written
claimed for this process's dispatcher and handed to it after the commit
(:mod:`notifications.handoff`): no claim query per update.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import warnings
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakValueDictionary

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, update
from starlette.concurrency import run_in_threadpool
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBUserWarning

from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.channels.telegram_render import MAX_TEXT
from bot.channels.telegram_sender import CHANNEL, TelegramSender
from bot.channels.telegram_updates import (
    ALLOWED_UPDATES,
    SHAPE_ERRORS,
    Decoded,
    Ignored,
    MalformedUpdate,
    Membership,
    chat_key,
    decode,
    parse_body,
    parse_update,
)
from bot.config import Settings
from bot.conversation import Conversations, Incoming
from intake.attachments import Attachment
from intake.contacts import Contact, find_contact
from intake.db import Database
from intake.json_limits import JsonRejected, check, read_body
from intake.outage import StorageUnavailable, outage_guard
from locales import normalize_locale, translate
from notifications.outbox import stop_recipient
from notifications.ratelimit import Limits

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "CHANNEL",
    "FACTORY",
    "MENU_COMMANDS",
    "MalformedUpdate",
    "TelegramChannel",
    "build_application",
    "is_group_chat",
    "limits_from",
    "publish_commands",
]
log = logging.getLogger(__name__)
# We call getUpdates through do_api_request on purpose (see ``_get_updates``).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
#: How long Telegram is asked to wait while the database is away (it retries anyway).
RETRY_AFTER_SECONDS = 10
#: Refusals: a code and a polite line, Chinese first (Telegram logs only the status).
_REFUSALS = {
    400: ("invalid_update", "消息格式不对，没看懂。The update could not be read."),
    403: ("bad_secret", "密钥不对，消息没有收下。The secret token is not valid."),
    413: ("too_large", "消息太长了，没有收下。The update is too large."),
    503: (
        "unavailable",
        "系统暂时忙不过来，这条消息没有收下，请稍后再发一次。"
        "The service is briefly unavailable; the update was not kept, please send it again.",
    ),
}
#: The commands shown in Telegram's menu, with their descriptions' message ids.
MENU_COMMANDS = (
    ("start", "telegram.command.start"),
    ("help", "telegram.command.help"),
    ("status", "telegram.command.status"),
    ("mine", "telegram.command.mine"),
    ("language", "telegram.command.language"),
    ("cancel", "telegram.command.cancel"),
)


def build_application(token: str, api_url: str, file_url: str) -> AnyApplication:
    """A PTB ``Application`` without an ``Updater``: we run the webhook server ourselves."""
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(api_url)
        .base_file_url(file_url)
        .updater(None)
        .connection_pool_size(64)
        .connect_timeout(5)
        .read_timeout(10)
        .write_timeout(10)
        .pool_timeout(3)
        .build()
    )


class TelegramChannel(Channel[Update]):
    """Inbound (webhook route or polling loop) and outbound (the sender) for one bot."""

    name = CHANNEL
    #: Inline keyboards, 4,096 characters (the sender splits longer ones), HTML.
    capabilities = Capabilities(buttons=True, max_text=MAX_TEXT, markup="html", inline=False)

    def __init__(
        self,
        conversations: Conversations,
        application: AnyApplication,
        *,
        secret: str,
        webhook_path: str = "/channels/telegram",
        max_body_bytes: int = 1024 * 1024,
        poll_timeout: int = 25,
        limits: Limits | None = None,
        polling: bool = False,
    ) -> None:
        super().__init__()
        self.conversations = conversations
        self.db: Database = conversations.db
        self.application = application
        self.bot = application.bot
        self.sender = TelegramSender(self.bot)
        self.secret = secret
        self.webhook_path = webhook_path
        self.max_body_bytes = max_body_bytes
        self.poll_timeout = poll_timeout
        self.limits = limits or Limits()
        self.polling = polling
        self.opener = self.open_file
        self._tasks: set[asyncio.Task[None]] = set()
        self._chat_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._poller: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings, conversations: Conversations) -> TelegramChannel:
        """The channel as configured by ``HOTLINE_TELEGRAM_*``."""
        if not settings.telegram_token:
            raise ValueError("HOTLINE_TELEGRAM_TOKEN is not set")
        application = build_application(
            settings.telegram_token, settings.telegram_api_url, settings.telegram_file_url
        )
        return cls(
            conversations,
            application,
            secret=settings.resolved_secret("telegram_secret_token"),
            webhook_path=settings.telegram_webhook_path,
            max_body_bytes=settings.telegram_max_body_bytes,
            poll_timeout=settings.telegram_poll_timeout,
            limits=limits_from(settings),
            polling=settings.telegram_polling,
        )

    # ----------------------------------------------------------------- lifecycle

    async def start(self, *, polling: bool | None = None) -> None:
        """Initialise the bot (``getMe``); with ``polling`` (as configured unless given),
        start the getUpdates loop."""
        polling = self.polling if polling is None else polling
        try:
            await self.application.initialize()
        except TelegramError as error:  # the web service must come up even if Telegram is not
            name = type(error).__name__  # never the message: InvalidToken's holds the token
            log.warning("Telegram unreachable at start (%s); sends will retry", name)
        if polling:
            self._stop.clear()
            self._poller = asyncio.create_task(self.poll_forever(self._stop))

    async def stop(self) -> None:
        """Stop taking updates: end polling, finish the callback answers under way."""
        self._stop.set()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def close(self) -> None:
        """Release the HTTP clients (after the dispatcher stopped sending)."""
        await self.application.shutdown()  # a no-op if initialize failed
        await self.bot.shutdown()  # releases the HTTP clients in that case

    # ----------------------------------------------------------------- inbound

    def decode(self, raw: Update) -> Incoming | None:
        """The update as the engine's input; ``None`` for a membership change or an update
        the hotline ignores. Raises what :func:`telegram_updates.decode` raises on a shape
        Telegram never sends."""
        decoded = decode(raw)
        return decoded.incoming if isinstance(decoded, Decoded) else None

    def is_group(self, recipient: str) -> bool:
        """Telegram's group and channel chats have negative ids."""
        return is_group_chat(recipient)

    async def open_file(self, attachment: Attachment) -> tuple[bytes, str | None]:
        """A file a villager sent, fetched through the Bot API (getFile) for a cadre."""
        found = await self.bot.get_file(attachment.file_id)
        return bytes(await found.download_as_bytearray()), attachment.mime

    def router(self) -> APIRouter:
        """The webhook route."""
        api = APIRouter()

        @api.post(self.webhook_path, tags=["channels"], include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                return _refuse(403)
            body = await read_body(request, self.max_body_bytes)
            if body is None:
                log.warning("telegram webhook: body over %d bytes refused", self.max_body_bytes)
                return _refuse(413)
            try:
                parsed = parse_body(body, self.bot)
            except MalformedUpdate as malformed:
                log.warning(
                    "telegram webhook: malformed update (%d bytes, %s)", len(body), malformed
                )
                return _refuse(400)
            try:
                call = await self.handle(parsed)
            except MalformedUpdate:
                return _refuse(400)
            except StorageUnavailable:
                return _refuse(503)
            if call is None:
                return Response(status_code=200)
            return JSONResponse(call)

        return api

    async def handle(self, update: Update) -> dict[str, Any] | None:
        """Store and answer one update (both modes); raises if it could not be stored.

        Returns the Bot API call that stops a tapped button's spinner, if any: the webhook
        puts it in its HTTP response, which Telegram carries out (one request fewer per
        tap), and polling makes it itself. :class:`MalformedUpdate` when the update has a
        shape no Telegram update has (the webhook answers 400, polling skips it); any other
        error means "try again".
        """
        try:
            decoded = decode(update)
        except SHAPE_ERRORS as error:
            log.warning("telegram update %s unreadable: %s", update.update_id, type(error).__name__)
            raise MalformedUpdate(update.update_id) from error
        if isinstance(decoded, Ignored):
            log.debug("telegram update %s ignored: %s", update.update_id, decoded.reason)
            query = update.callback_query
            if query is not None and isinstance(query.id, str):  # a spinner must not keep turning
                return spinner_call(query.id)
            return None
        if isinstance(decoded, Membership):
            await run_in_threadpool(self._membership, decoded)
            return None
        # One chat's updates wait here, on the event loop, not in a pool thread each. The
        # update, the contact, the dialog state, the records and the reply rows (the tapped
        # keyboard's mark first) are one transaction.
        async with self._chat_lock(decoded.incoming.sender):
            answered = await run_in_threadpool(self.conversations.receive, decoded.incoming)
            self.dispatch(answered)
        if decoded.callback_id is None:
            return None
        text = None
        if answered.duplicate:  # a second tap is told it was already answered
            text = translate(normalize_locale(decoded.incoming.language), "telegram.tapped_twice")
        return spinner_call(decoded.callback_id, text)

    def _chat_lock(self, chat: str) -> asyncio.Lock:
        lock = self._chat_locks.get(chat)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[chat] = lock
        return lock

    async def handle_in_order(self, updates: Sequence[Update]) -> None:
        """Handle a batch: one chat's updates in order, different chats concurrently."""
        by_chat: dict[str, list[Update]] = defaultdict(list)
        for item in sorted(updates, key=lambda u: u.update_id):
            by_chat[chat_key(item)].append(item)

        async def one_chat(items: list[Update]) -> None:
            for item in items:
                with contextlib.suppress(MalformedUpdate):  # logged; the others go on
                    call = await self.handle(item)
                    if call is not None:
                        self._spawn(self._call(call))

        await asyncio.gather(*(one_chat(items) for items in by_chat.values()))

    async def poll_forever(self, stop: asyncio.Event) -> None:
        """Long-poll getUpdates until ``stop``; the offset moves only past stored updates."""
        with contextlib.suppress(TelegramError):
            await self.bot.delete_webhook(drop_pending_updates=False)
            await publish_commands(self.bot)
        offset: int | None = None
        backoff = 1.0
        while not stop.is_set():
            try:
                updates, newest = await self._get_updates(offset)
                await self.handle_in_order(updates)
            except Exception as error:
                # A bug, not Telegram or the database being away, is logged with its trace.
                trace = not isinstance(error, TelegramError | StorageUnavailable)
                log.warning("telegram polling: %s; retrying", type(error).__name__, exc_info=trace)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if newest is not None:
                offset = newest + 1

    async def _get_updates(self, offset: int | None) -> tuple[list[Update], int | None]:
        """One long poll: the readable updates, and the newest ``update_id`` seen.

        Read one by one (PTB's ``get_updates`` fails the whole batch on one odd update and
        logs the raw batch, personal data included): an unreadable update is logged by its
        id and skipped, and the offset still moves past it.
        """
        raw = await self.bot.do_api_request(
            "getUpdates",
            api_kwargs={
                "offset": offset,
                "timeout": self.poll_timeout,
                "allowed_updates": list(ALLOWED_UPDATES),
            },
            read_timeout=self.poll_timeout + 10,
        )
        updates: list[Update] = []
        newest: int | None = None
        for data in raw if isinstance(raw, list) else []:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if type(update_id) is not int:
                continue
            newest = max(update_id, newest if newest is not None else update_id)
            try:
                check(data)  # the limits the webhook's parser keeps
            except JsonRejected as rejected:
                log.warning("telegram update %s unreadable (%s); skipped", update_id, rejected)
                continue
            parsed = parse_update(data, self.bot)
            if parsed is None:
                log.warning("telegram update %s unreadable; skipped", update_id)
            else:
                updates.append(parsed)
        return updates, newest

    # ----------------------------------------------------------------- database steps

    def _resume_contact(self, chat: str) -> None:
        """A person who had blocked the bot writes again: they can be reached again."""
        with outage_guard(), self.db.read() as db:
            contact = find_contact(db, CHANNEL, chat)
        if contact is None or contact.stopped_at is None:
            return
        with outage_guard(), self.db.write() as db:
            db.execute(update(Contact).where(col(Contact.id) == contact.id).values(stopped_at=None))

    def _membership(self, change: Membership) -> None:
        if change.blocked:
            now = self.conversations.clock()
            with outage_guard(), self.db.write() as db:
                stop_recipient(
                    db, channel=CHANNEL, recipient=change.chat, now=now, reason="blocked the bot"
                )
        else:
            self._resume_contact(change.chat)

    # ----------------------------------------------------------------- Bot API calls

    async def _call(self, call: dict[str, Any]) -> None:
        """Make a call the webhook would have answered with (polling mode)."""
        method, params = call["method"], {k: v for k, v in call.items() if k != "method"}
        try:
            await self.bot.do_api_request(method, api_kwargs=params)
        except TelegramError as error:  # too old, or answered already: nothing to undo
            log.info("%s failed: %s", method, type(error).__name__)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _build(settings: Settings, services: Services) -> TelegramChannel | None:
    """The channel when a bot token is configured."""
    if not settings.telegram_token:
        return None
    return TelegramChannel.from_settings(settings, services.conversations)


#: Replies go through the outbox: Telegram takes no answer in the webhook's response body
#: for a message with buttons and pacing (see the module docstring).
FACTORY = ChannelFactory(CHANNEL, inline=False, build=_build)


def spinner_call(callback_id: str, text: str | None = None) -> dict[str, Any]:
    """``answerCallbackQuery`` as a webhook reply: stops the tapped button's spinner."""
    call: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": callback_id}
    if text:
        call["text"] = text
    return call


def limits_from(settings: Settings) -> Limits:
    """The outbound limits configured by ``HOTLINE_TELEGRAM_*``."""
    return Limits(
        per_second=settings.telegram_messages_per_second,
        per_recipient_interval=settings.telegram_per_chat_interval,
        per_recipient_burst=settings.telegram_per_chat_burst,
    )


def is_group_chat(recipient: str) -> bool:
    """Telegram's group and channel chats have negative ids."""
    return recipient.startswith("-")


async def publish_commands(bot: Any) -> None:
    """Show the commands in Telegram's menu: in Chinese by default, in English for ``en``."""
    for locale, language_code in (("zh_CN", None), ("en", "en")):
        commands = [BotCommand(name, translate(locale, msgid)) for name, msgid in MENU_COMMANDS]
        await bot.set_my_commands(commands, language_code=language_code)


def _refuse(status: int) -> Response:
    code, message = _REFUSALS[status]
    response = JSONResponse({"error": code, "message": message}, status_code=status)
    if status == 503:
        response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return response
