"""Server-side state of one fake bot and the Bot API methods that act on it.

No I/O and no locking here: :class:`tests.fakes.telegram_api.FakeTelegram` serialises access.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from .telegram_model import (
    JSON,
    MAX_CAPTION,
    MAX_TEXT,
    ChatId,
    UploadedFile,
    bad_request,
    chat_object,
    check_text,
    user_object,
)

Files = dict[str, UploadedFile]
Handler = Callable[[JSON, Files], Any]

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the old message"
)
_ANSWER_TRUE = (
    "answerCallbackQuery",
    "sendChatAction",
    "setMyCommands",
    "deleteMyCommands",
    "setChatMenuButton",
)


class BotApiState:
    """Messages, files, webhook and update queue of one bot, plus the method implementations."""

    def __init__(self, bot_user: JSON, *, strict_entities: bool = True) -> None:
        self.bot_user = bot_user
        self.strict_entities = strict_entities
        self.updates: list[JSON] = []
        self.webhook: JSON = {"url": ""}
        self.messages: dict[tuple[ChatId, int], JSON] = {}
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self._message_ids: dict[ChatId, itertools.count[int]] = {}
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self.handlers: dict[str, Handler] = {
            "getMe": lambda params, files: self.bot_user,
            "sendMessage": self._send_message,
            "sendPhoto": lambda params, files: self._send_file("photo", params, files),
            "sendDocument": lambda params, files: self._send_file("document", params, files),
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_reply_markup,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info,
            **dict.fromkeys(_ANSWER_TRUE, lambda params, files: True),
        }

    # ----------------------------------------------------------------- updates

    def queue_update(self, update: JSON) -> JSON:
        """Append a copy of ``update`` (assigning ``update_id`` if missing); return the copy."""
        update = dict(update)
        if "update_id" in update:
            self._update_ids = itertools.count(max(update["update_id"] + 1, next(self._update_ids)))
        else:
            update["update_id"] = next(self._update_ids)
        self.updates.append(update)
        return update

    def take_updates(self, offset: int, limit: int, allowed: set[str]) -> list[JSON]:
        """getUpdates semantics: ``offset`` confirms earlier updates, then up to ``limit``."""
        if offset < 0:
            del self.updates[:offset]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if allowed:  # Telegram drops updates of types the bot did not ask for
            self.updates = [u for u in self.updates if allowed & u.keys()]
        return self.updates[:limit]

    def user_message(self, chat_id: int, user_id: int, fields: JSON) -> JSON:
        """An incoming Message (stored, so the bot can reply to or edit around it)."""
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat_object(chat_id),
            "from": user_object(user_id),
            **fields,
        }
        self.messages[(chat_id, message["message_id"])] = message
        return {"message": dict(message)}

    def user_callback(self, chat_id: int, message_id: int, user_id: int, data: str) -> JSON:
        """A callback_query update for a button under one of the bot's messages."""
        message = self.messages.get((chat_id, message_id))
        if message is None:  # unknown here: invent the bot message so later edits work
            message = self._store_message(chat_id, {"text": "…"}, message_id=message_id)
        query = {
            "id": str(next(self._callback_ids)),
            "from": user_object(user_id),
            "chat_instance": str(chat_id),
            "message": dict(message),
            "data": data,
        }
        return {"callback_query": query}

    # ----------------------------------------------------------------- files

    def store_file(self, data: bytes, file_name: str | None, mime_type: str | None) -> JSON:
        """Keep ``data`` downloadable; return the Document object Telegram would report."""
        number = next(self._file_ids)
        name = file_name or f"file_{number}"
        info: JSON = {
            "file_id": f"FAKE-FILE-{number:06d}",
            "file_unique_id": f"U{number:06d}",
            "file_size": len(data),
            "file_name": name,
            "mime_type": mime_type or "application/octet-stream",
        }
        self._files[info["file_id"]] = (info, data)
        return dict(info)

    def file_path(self, file_id: str) -> str:
        """The path getFile reports (and the download route serves) for ``file_id``."""
        return f"documents/{file_id}/{self._files[file_id][0]['file_name']}"

    def file_bytes(self, path: str) -> bytes | None:
        """The content served at ``<base_file_url><token>/<path>``."""
        file_id = path.split("/")[1] if path.count("/") >= 2 else ""
        stored = self._files.get(file_id)
        return stored[1] if stored and self.file_path(file_id) == path else None

    # ----------------------------------------------------------------- messages

    def _next_message_id(self, chat_id: ChatId) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _store_message(self, chat_id: ChatId, content: JSON, message_id: int | None = None) -> JSON:
        message: JSON = {
            "message_id": message_id or self._next_message_id(chat_id),
            "from": self.bot_user,
            "chat": chat_object(chat_id),
            "date": int(time.time()),
            **content,
        }
        self.messages[(chat_id, message["message_id"])] = message
        return dict(message)

    def _check_text(self, params: JSON, key: str) -> None:
        limit, kind = (MAX_TEXT, "text") if key == "text" else (MAX_CAPTION, "caption")
        check_text(
            params.get(key), params.get("parse_mode"), limit=limit, kind=kind,
            strict=self.strict_entities,
        )  # fmt: skip

    @staticmethod
    def _content(params: JSON, text_key: str | None) -> JSON:
        content: JSON = {}
        if text_key is not None and text_key in params:
            content[text_key] = params[text_key]
        if "inline_keyboard" in params.get("reply_markup", {}):
            content["reply_markup"] = params["reply_markup"]  # Telegram echoes only inline ones
        return content

    def _send_message(self, params: JSON, files: Files) -> JSON:
        self._check_text(params, "text")
        return self._store_message(params["chat_id"], self._content(params, "text"))

    def _send_file(self, kind: str, params: JSON, files: Files) -> JSON:
        self._check_text(params, "caption")
        value = params.get(kind)
        upload = files.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            info = self.store_file(upload.data, upload.filename, upload.content_type)
        elif isinstance(value, str) and value in self._files:
            info = dict(self._files[value][0])
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            info = self.store_file(b"", value.rsplit("/", 1)[-1], None)
        else:
            raise bad_request(f"there is no {kind} in the request")
        if kind == "photo":
            size = {key: info[key] for key in ("file_id", "file_unique_id", "file_size")}
            media: Any = [{**size, "width": 1280, "height": 960}]
        else:
            media = info
        content = {kind: media, **self._content(params, "caption")}
        return self._store_message(params["chat_id"], content)

    def _editable(self, params: JSON) -> JSON | None:
        if "inline_message_id" in params:
            return None
        message = self.messages.get((params["chat_id"], params.get("message_id", 0)))
        if message is None:
            raise bad_request("message to edit not found")
        return message

    def _edit_message_text(self, params: JSON, files: Files) -> JSON | bool:
        self._check_text(params, "text")
        message = self._editable(params)
        if message is None:
            return True
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        new_markup = params.get("reply_markup")
        if message["text"] == params["text"] and message.get("reply_markup") == new_markup:
            raise bad_request(_NOT_MODIFIED)
        message.pop("reply_markup", None)  # like Telegram: no reply_markup removes the keyboard
        message.update(self._content(params, "text"), edit_date=int(time.time()))
        return dict(message)

    def _edit_reply_markup(self, params: JSON, files: Files) -> JSON | bool:
        message = self._editable(params)
        if message is None:
            return True
        new_markup = params.get("reply_markup")
        if message.get("reply_markup") == new_markup:
            raise bad_request(_NOT_MODIFIED)
        message.pop("reply_markup", None)
        message.update(self._content(params, None), edit_date=int(time.time()))
        return dict(message)

    def _delete_message(self, params: JSON, files: Files) -> bool:
        key = (params.get("chat_id", 0), params.get("message_id", 0))
        if self.messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        return True

    # ----------------------------------------------------------------- files & webhook

    def _get_file(self, params: JSON, files: Files) -> JSON:
        file_id = str(params.get("file_id", ""))
        if file_id not in self._files:
            raise bad_request("invalid file_id")
        info = self._files[file_id][0]
        return {
            "file_id": file_id,
            "file_unique_id": info["file_unique_id"],
            "file_size": info["file_size"],
            "file_path": self.file_path(file_id),
        }

    def _set_webhook(self, params: JSON, files: Files) -> bool:
        url = str(params.get("url", ""))
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {"url": url}
        for key in ("max_connections", "allowed_updates", "secret_token", "ip_address"):
            if key in params:
                self.webhook[key] = params[key]
        return True

    def _delete_webhook(self, params: JSON, files: Files) -> bool:
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {"url": ""}
        return True

    def _webhook_info(self, params: JSON, files: Files) -> JSON:
        info = {key: value for key, value in self.webhook.items() if key != "secret_token"}
        return {**info, "has_custom_certificate": False, "pending_update_count": len(self.updates)}
