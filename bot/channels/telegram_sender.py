"""Delivering outbox rows through python-telegram-bot's ``Bot``, and what each failure means.

Payloads:

* ``{"text", "buttons": [{"label", "data"}]}`` - a reply or a notice; split into parts of
  at most 4,096 characters (the dispatcher paces and sends each part, see
  :class:`notifications.sender.MultipartSender`), buttons under the last part.
* ``{"edit": {"message_id", "html"}}`` - mark a question whose button was tapped: its
  keyboard removed and the choice written under it (``html`` ``None``: only remove).

How an error maps to an outcome is the whole delivery guarantee, so it is spelled out:

=============================================  ===============================================
``RetryAfter`` (429)                           retry after ``retry_after``, whole channel waits
``Forbidden`` (403: blocked, deactivated)      the contact is stopped; never retried
``BadRequest`` (400)                           failed, with Telegram's reason; never retried
a 5xx answer                                   retried with backoff (Telegram did nothing)
no connection / pool timeout / connect timeout retried (the request never left)
read or write timeout, connection lost mid-way *uncertain*: it may have arrived; never retried
``InvalidToken`` (401/404)                     retried later, channel paused (fix the token)
=============================================  ===============================================
"""

from __future__ import annotations

import datetime as dtm
import logging
import warnings
from typing import Any

import httpx
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.channels import telegram_render as rendering
from notifications.sender import Delivered, Failed, Outcome, RetryLater, Stopped, Uncertain

log = logging.getLogger(__name__)
CHANNEL = "telegram"
#: Seconds the whole channel waits when Telegram rejects the token (a configuration error).
TOKEN_PAUSE = 60.0
_NOT_MODIFIED = "message is not modified"
#: httpx errors raised before a request could reach Telegram: safe to send again.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class TelegramSender:
    """The Telegram channel adapter of the outbox dispatcher."""

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def parts(self, payload: dict[str, Any]) -> int:
        """How many messages ``payload`` needs."""
        if "edit" in payload:
            return 1
        return len(rendering.split_text(str(payload.get("text") or "")))

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Deliver one part of ``payload`` to the chat ``recipient``."""
        try:
            if "edit" in payload:
                return await self._edit(recipient, payload["edit"])
            pieces = rendering.parts(payload)
            piece = pieces[min(int(payload.get("part", 0)), len(pieces) - 1)]
            message = await self.bot.send_message(
                chat_id=recipient,
                text=piece.html,
                parse_mode=ParseMode.HTML,
                reply_markup=piece.markup,
            )
            return Delivered(str(message.message_id))
        except TelegramError as error:
            return outcome_of(error)

    async def _edit(self, recipient: str, edit: dict[str, Any]) -> Outcome:
        message_id = int(edit["message_id"])
        try:
            if edit.get("html"):
                await self.bot.edit_message_text(
                    text=str(edit["html"]),
                    chat_id=recipient,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=None,
                )
            else:
                await self.bot.edit_message_reply_markup(
                    chat_id=recipient, message_id=message_id, reply_markup=None
                )
        except BadRequest as error:
            if _NOT_MODIFIED in error.message.lower():
                return Delivered(str(message_id))  # already marked: the edit is done
            raise
        return Delivered(str(message_id))


def outcome_of(error: TelegramError) -> Outcome:
    """What a Bot API error means for the row (see the module's table)."""
    reason = f"{type(error).__name__}: {error.message}"[:500]
    if isinstance(error, RetryAfter):
        return RetryLater(reason, after=retry_after_seconds(error), flood=True)
    if isinstance(error, Forbidden):
        return Stopped(reason)
    if isinstance(error, BadRequest | ChatMigrated):
        return Failed(reason)
    if isinstance(error, InvalidToken):
        log.error("Telegram rejected the bot token; check HOTLINE_TELEGRAM_TOKEN")
        return RetryLater("InvalidToken: the bot token was rejected", TOKEN_PAUSE, flood=True)
    if isinstance(error, TimedOut | NetworkError):
        cause = error.__cause__
        if isinstance(cause, httpx.HTTPError) and not isinstance(cause, _NEVER_SENT):
            return Uncertain(f"{reason} ({type(cause).__name__}); it may have been delivered")
        if cause is not None and not isinstance(cause, TelegramError | httpx.HTTPError):
            return Uncertain(f"{reason}; it may have been delivered")
        # Telegram answered (a 5xx), or the request never left: nothing was delivered.
        return RetryLater(reason)
    return Failed(reason)


def retry_after_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 deprecates the int form; we accept both
        value = error.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)
