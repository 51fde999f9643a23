"""Reading Telegram updates: what a villager did, as the channel-neutral :class:`Incoming`.

* A text is typed text; ``/start [payload]``, ``/help``, ``/status``, ``/language``,
  ``/cancel`` (and ``/menu``) become the engine's start and global commands.
* A button press is the button's data. Its ``external_id`` is the *pressed message*
  (``cb:<chat>:<message>``), not the update: a keyboard answers one question once, so a
  double tap - or a second tap racing the keyboard's removal - is a redelivery and does
  nothing twice.
* A photo, a document or a voice note is kept (its ``file_id`` and metadata) and
  acknowledged without moving the dialog; a sticker, a location and the like get a polite
  line; an edited message gets a line asking to send the correction as a new message.
* Groups, channels and service messages are ignored: the bot works in private chats.
* ``my_chat_member`` tells when a person blocks or unblocks the bot.

PTB's ``de_json`` copies values as they come, so a body with the right keys and the wrong
types (a chat id ``"7"``, ``true`` or ``[1]``; a text ``5``) parses. :func:`decode` checks
what it uses and raises ``ValueError`` for such a body, which the channel answers with 400:
ids are 64-bit integers, texts and file ids strings (see :func:`telegram_id`).
"""

from __future__ import annotations

import datetime as dtm
import warnings
from dataclasses import dataclass
from typing import Any

from telegram import Chat, Message, Update

from bot.channels.telegram_render import pressed_text
from bot.conversation import Incoming
from bot.engine import GLOBAL_PREFIX, Input
from intake.attachments import AttachmentKind, FileInfo
from intake.json_limits import INT64_MAX, INT64_MIN, JsonRejected, loads

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
COMMANDS = {
    "help": "help",
    "cancel": "menu",
    "menu": "menu",
    "status": "status",
    "language": "language",
    "human": "human",
    "mine": "mine",
}
#: Message kinds we cannot read: answered with one polite line.
UNSUPPORTED = ("sticker", "location", "venue", "poll", "dice", "animation", "game", "story")
MAX_PAYLOAD = 64
#: Sizes and durations are kept in 32-bit INTEGER columns.
INT32_MAX = 2**31 - 1
#: What a kept file is acknowledged with.
KEPT = {
    AttachmentKind.PHOTO: "telegram.attachment.photo",
    AttachmentKind.DOCUMENT: "telegram.attachment.document",
    AttachmentKind.VOICE: "telegram.attachment.voice",
}


#: What reading an update's fields can raise when a field has a type Telegram never sends.
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, LookupError, ArithmeticError)


class MalformedUpdate(Exception):
    """An update with a shape Telegram never sends; the message names why (never content)."""


def parse_body(body: bytes, bot: Any) -> Update:
    """The update in a webhook body, or :class:`MalformedUpdate` naming why in one word."""
    try:
        data = loads(body)
    except JsonRejected as rejected:
        raise MalformedUpdate(rejected.reason) from None
    parsed = parse_update(data, bot)
    if parsed is None:
        raise MalformedUpdate("shape")
    return parsed


def parse_update(data: object, bot: Any) -> Update | None:
    """``Update.de_json`` that says ``None`` instead of raising on a malformed update."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except (*SHAPE_ERRORS, OSError):  # OSError, OverflowError: a date no clock can show
        return None


def chat_key(update: Update) -> str:
    """Which chat's queue an update waits in (its own, if its chat id is unreadable)."""
    chat = update.effective_chat
    try:
        return f"chat:{telegram_id(chat.id if chat else None)}"
    except ValueError:
        return f"update:{update.update_id}"


@dataclass(frozen=True)
class Decoded:
    """An update for the conversation service, with what the channel must do around it."""

    incoming: Incoming
    #: A button press: answer it (``answerCallbackQuery``); its keyboard is marked by
    #: the edit queued ahead of the replies (``incoming.ahead``).
    callback_id: str | None = None


@dataclass(frozen=True)
class Membership:
    """The person blocked (``blocked``) or unblocked the bot."""

    chat: str
    blocked: bool


@dataclass(frozen=True)
class Ignored:
    """Nothing to do (a group message, a service message); ``reason`` is for the log."""

    reason: str


def decode(update: Update) -> Decoded | Membership | Ignored:
    """What ``update`` asks of us."""
    if update.callback_query is not None:
        return _callback(update)
    if update.message is not None:
        return _message(update, update.message)
    if update.edited_message is not None:
        return _aside(update, update.edited_message, "telegram.edited")
    member = update.my_chat_member
    if member is not None and member.chat.type == Chat.PRIVATE:
        status = member.new_chat_member.status
        chat = str(telegram_id(member.chat.id))
        return Membership(chat, blocked=status in ("kicked", "left"))
    return Ignored("update kind not handled")


def telegram_id(value: object) -> int:
    """``value`` if it is a Telegram id (an integer within 64 bits, not a bool), else
    ``ValueError``: ids become stored keys, and a string or list there must never pass."""
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("not a Telegram id")
    return value


def _text(value: object) -> str | None:
    """An optional string field, or ``ValueError``."""
    if value is not None and not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _language(user: object) -> str | None:
    return _text(getattr(user, "language_code", None)) if user is not None else None


def _incoming(update: Update, message: Message, given: Input, **meta: Any) -> Incoming:
    update_id = telegram_id(update.update_id)
    return Incoming(
        CHANNEL,
        str(update_id),
        str(telegram_id(message.chat.id)),
        given,
        _language(update.effective_user),
        update_id,
        meta,
        reachable=True,
    )


def _callback(update: Update) -> Decoded | Ignored:
    query = update.callback_query
    assert query is not None
    message = query.message
    if message is None or query.data is None:
        return Ignored("inline or game callback")
    if message.chat.type != Chat.PRIVATE:
        return Ignored("callback outside a private chat")
    chat, message_id = telegram_id(message.chat.id), telegram_id(message.message_id)
    data = _text(query.data) or ""
    mark = {"edit": {"message_id": message_id, "html": _pressed(message, data)}}
    incoming = Incoming(
        CHANNEL,
        f"cb:{chat}:{message_id}",
        str(chat),
        Input(data=data),
        _language(query.from_user),
        telegram_id(update.update_id),
        ahead=(mark,),
        reachable=True,
    )
    return Decoded(incoming, callback_id=_text(query.id))


def _pressed(message: object, data: str) -> str | None:
    """The question with the tapped label under it (``None``: just drop the keyboard)."""
    if not isinstance(message, Message) or not message.text or message.reply_markup is None:
        return None
    labels = [
        button.text
        for row in message.reply_markup.inline_keyboard
        for button in row
        if button.callback_data == data
    ]
    return pressed_text(message.text_html, labels[0]) if labels else None


def _message(update: Update, message: Message) -> Decoded | Ignored:
    if message.chat.type != Chat.PRIVATE:
        return Ignored("message outside a private chat")
    text = _text(message.text)
    if text is not None:
        return Decoded(_incoming(update, message, _typed(text)))
    file = _file(message)
    if file is not None:
        return _aside(update, message, KEPT[file.kind], attachment=file.to_json())
    own = message.contact
    if own is not None and message.from_user and own.user_id == message.from_user.id:
        return Decoded(_incoming(update, message, Input(text=_text(own.phone_number) or "")))
    if own is not None or any(getattr(message, kind, None) for kind in UNSUPPORTED):
        return _aside(update, message, "telegram.unsupported")
    return Ignored("service message")


def _aside(update: Update, message: Message, aside: str, **meta: Any) -> Decoded | Ignored:
    if message.chat.type != Chat.PRIVATE:
        return Ignored("message outside a private chat")
    return Decoded(_incoming(update, message, Input(), aside=aside, **meta))


def _typed(text: str) -> Input:
    if not text.startswith("/"):
        return Input(text=text)
    head, _, rest = text.partition(" ")
    command = head[1:].split("@", 1)[0].lower()
    if command == "start":
        payload = rest.strip()[:MAX_PAYLOAD]
        return Input(start=True, payload=payload or None)
    if command in COMMANDS:
        return Input(data=f"{GLOBAL_PREFIX}{COMMANDS[command]}")
    return Input(text=text)


def _file(message: Message) -> FileInfo | None:
    caption = _text(message.caption)
    if message.photo:
        best = message.photo[-1]  # the largest size
        return FileInfo(
            kind=AttachmentKind.PHOTO,
            file_id=_file_id(best.file_id),
            file_unique_id=_text(best.file_unique_id),
            mime="image/jpeg",
            size=_size(best.file_size),
            caption=caption,
        )
    spoken = message.voice or message.audio or message.video_note
    item = spoken or message.document or message.video
    if item is None:
        return None
    kind = AttachmentKind.VOICE if spoken is not None else AttachmentKind.DOCUMENT
    return FileInfo(
        kind=kind,
        file_id=_file_id(item.file_id),
        file_unique_id=_text(item.file_unique_id),
        file_name=_text(getattr(item, "file_name", None)),
        mime=_text(getattr(item, "mime_type", None)) or ("video/mp4" if spoken else None),
        size=_size(item.file_size),
        duration_seconds=_seconds(item),
        caption=caption,
    )


def _file_id(value: object) -> str:
    """A file id: what a cadre's page later fetches the file by, so it must be a string."""
    file_id = _text(value)
    if not file_id:
        raise ValueError("no file id")
    return file_id


def _size(value: object) -> int | None:
    """A file size in bytes (some clients send ``9e4``); not a number is malformed.

    Over 2 GiB (Telegram Premium allows 4 GB) it is left unknown: the column is 32-bit.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("not a size")
    return int(value) if value <= INT32_MAX else None


def _seconds(item: object) -> int | None:
    """A media item's duration in whole seconds (PTB 22 gives an int or a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the int form is deprecated; both are accepted
        duration = getattr(item, "duration", None)
    if isinstance(duration, dtm.timedelta):
        seconds = duration.total_seconds()
        return int(seconds) if 0 <= seconds <= INT32_MAX else None
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        return None
    return int(duration) if 0 <= duration <= INT32_MAX else None
