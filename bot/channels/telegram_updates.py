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

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
COMMANDS = {
    "help": "help",
    "cancel": "menu",
    "menu": "menu",
    "status": "status",
    "language": "language",
    "human": "human",
}
#: Message kinds we cannot read: answered with one polite line.
UNSUPPORTED = ("sticker", "location", "venue", "poll", "dice", "animation", "game", "story")
MAX_PAYLOAD = 64
#: What a kept file is acknowledged with.
KEPT = {
    AttachmentKind.PHOTO: "telegram.attachment.photo",
    AttachmentKind.DOCUMENT: "telegram.attachment.document",
    AttachmentKind.VOICE: "telegram.attachment.voice",
}


@dataclass(frozen=True)
class Decoded:
    """An update for the conversation service, with what the channel must do around it."""

    incoming: Incoming
    #: A button press: answer it (``answerCallbackQuery``), then mark its keyboard.
    callback_id: str | None = None
    mark: dict[str, Any] | None = None


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
        return Membership(str(member.chat.id), blocked=status in ("kicked", "left"))
    return Ignored("update kind not handled")


def _incoming(update: Update, message: Message, given: Input, **meta: Any) -> Incoming:
    user = update.effective_user
    return Incoming(
        CHANNEL,
        str(update.update_id),
        str(message.chat.id),
        given,
        user.language_code if user else None,
        update.update_id,
        meta,
    )


def _callback(update: Update) -> Decoded | Ignored:
    query = update.callback_query
    assert query is not None
    message = query.message
    if message is None or query.data is None:
        return Ignored("inline or game callback")
    if message.chat.type != Chat.PRIVATE:
        return Ignored("callback outside a private chat")
    user = query.from_user
    incoming = Incoming(
        CHANNEL,
        f"cb:{message.chat.id}:{message.message_id}",
        str(message.chat.id),
        Input(data=query.data),
        user.language_code if user else None,
        update.update_id,
    )
    mark = {"edit": {"message_id": message.message_id, "html": _pressed(message, query.data)}}
    return Decoded(incoming, callback_id=query.id, mark=mark)


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
    if message.text is not None:
        return Decoded(_incoming(update, message, _typed(message.text)))
    file = _file(message)
    if file is not None:
        return _aside(update, message, KEPT[file.kind], attachment=file.to_json())
    own = message.contact
    if own is not None and message.from_user and own.user_id == message.from_user.id:
        return Decoded(_incoming(update, message, Input(text=own.phone_number)))
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
    caption = message.caption
    if message.photo:
        best = message.photo[-1]  # the largest size
        return FileInfo(
            kind=AttachmentKind.PHOTO,
            file_id=best.file_id,
            file_unique_id=best.file_unique_id,
            mime="image/jpeg",
            size=best.file_size,
            caption=caption,
        )
    spoken = message.voice or message.audio or message.video_note
    item = spoken or message.document or message.video
    if item is None:
        return None
    kind = AttachmentKind.VOICE if spoken is not None else AttachmentKind.DOCUMENT
    return FileInfo(
        kind=kind,
        file_id=item.file_id,
        file_unique_id=item.file_unique_id,
        file_name=getattr(item, "file_name", None),
        mime=getattr(item, "mime_type", None) or ("video/mp4" if spoken else None),
        size=item.file_size,
        duration_seconds=_seconds(item),
        caption=caption,
    )


def _seconds(item: object) -> int | None:
    """A media item's duration in whole seconds (PTB 22 gives an int or a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the int form is deprecated; both are accepted
        duration = getattr(item, "duration", None)
    if isinstance(duration, dtm.timedelta):
        return int(duration.total_seconds())
    return int(duration) if isinstance(duration, int | float) else None
