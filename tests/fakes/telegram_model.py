"""Data types, request parsing and Telegram-style validation for :mod:`.telegram_api`."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal

from starlette.datastructures import UploadFile
from starlette.requests import Request

JSON = dict[str, Any]
ChatId = int | str
FaultKind = Literal["5xx", "timeout", "403", "400", "429"]

#: Methods that deliver or change a message in a chat. These are the calls the rate limits count
#: and the calls a blocked chat refuses.
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageReplyMarkup",
        "copyMessage",
        "forwardMessage",
    }
)
#: Methods whose successful calls :meth:`FakeTelegram.sent_messages` reports.
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument")

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64

# Values PTB sends as plain strings in form posts; everything else is JSON-encoded by PTB.
_PLAIN_STRING_KEYS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "file_id",
        "photo",
        "document",
        "parse_mode",
        "secret_token",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "a",
        "code",
        "pre",
        "blockquote",
    }
)
_MARKDOWN_V2_ALWAYS_RESERVED = frozenset(".#+-={}")


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart/form-data request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Call:
    """One recorded Bot API request.

    ``params`` holds decoded values (form fields that PTB JSON-encodes, such as ``reply_markup``,
    are parsed back into dicts; ``chat_id`` is an ``int`` unless it is an ``@username``).
    ``at`` is the time the request *arrived* (``FakeTelegram.clock``, by default
    :func:`time.monotonic`); :attr:`FakeTelegram.calls`
    is in the order the requests were *answered*. ``status`` is the HTTP status of the answer and
    ``response`` its JSON body.
    """

    method: str
    params: JSON
    chat_id: ChatId | None
    at: float
    status: int
    response: JSON = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether Telegram answered ``{"ok": true}``."""
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (for example the sent Message dict)."""
        return self.response.get("result")


class ApiError(Exception):
    """An error answer, raised inside the fake and turned into Telegram's JSON error shape."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        """Telegram's JSON for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    """``400 Bad Request: <what>``."""
    return ApiError(400, f"Bad Request: {what}")


def too_many_requests(retry_after: int) -> ApiError:
    """``429`` with ``parameters.retry_after`` (which PTB turns into ``RetryAfter``)."""
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


def blocked() -> ApiError:
    """``403 Forbidden: bot was blocked by the user``."""
    return ApiError(403, "Forbidden: bot was blocked by the user")


@dataclass
class Fault:
    """A pending injected failure (see :meth:`FakeTelegram.fail_next`)."""

    method: str
    kind: FaultKind
    remaining: int
    chat_id: ChatId | None
    description: str
    retry_after: int
    hold: float | None
    deliver: bool

    def matches(self, method: str, chat_id: ChatId | None) -> bool:
        """Whether this fault applies to a call of ``method`` for ``chat_id``."""
        if self.method not in ("*", method):
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> ApiError:
        """The error answer for every kind except ``"timeout"``."""
        if self.kind == "5xx":
            return ApiError(502, "Bad Gateway")
        if self.kind == "403":
            return ApiError(
                403, _prefixed("Forbidden", self.description or "bot was blocked by the user")
            )
        if self.kind == "429":
            return too_many_requests(self.retry_after)
        return ApiError(400, _prefixed("Bad Request", self.description or "injected failure"))


def _prefixed(prefix: str, description: str) -> str:
    return description if description.startswith(prefix) else f"{prefix}: {description}"


class SlidingWindow:
    """Counts events in the last ``width`` seconds; not thread-safe (the caller locks)."""

    def __init__(self, width: float) -> None:
        self.width = width
        self._times: deque[float] = deque()

    def retry_after(self, limit: int, now: float) -> int | None:
        """Seconds (an int, at least 1) until one more event fits, or ``None`` if it fits now."""
        while self._times and self._times[0] <= now - self.width:
            self._times.popleft()
        if len(self._times) < limit:
            return None
        frees_at = self._times[len(self._times) - limit] + self.width
        return max(1, math.ceil(frees_at - now))

    def add(self, now: float) -> None:
        """Count one event at ``now``."""
        self._times.append(now)


class RateLimiter:
    """Telegram-like limits over sliding windows; not thread-safe (the caller locks)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, ChatId | None], SlidingWindow] = {}

    def admit(
        self,
        chat_id: ChatId | None,
        now: float,
        *,
        overall: int | None,
        per_chat: int | None,
        per_group: int | None,
    ) -> None:
        """Count a call at ``now`` in every window that applies, or raise 429 if one is full.

        Windows: the last 1 s overall, the last 1 s of ``chat_id`` and, for a negative
        ``chat_id``, its last 60 s. A ``None`` limit is off. A refused call is not counted.
        """
        limits = [("all", None, overall, 1.0), ("chat", chat_id, per_chat, 1.0)]
        if isinstance(chat_id, int) and chat_id < 0:
            limits.append(("group", chat_id, per_group, 60.0))
        windows = []
        for scope, key, limit, width in limits:
            if limit is not None:
                window = self._windows.setdefault((scope, key), SlidingWindow(width))
                retry_after = window.retry_after(limit, now)
                if retry_after is not None:
                    raise too_many_requests(retry_after)
                windows.append(window)
        for window in windows:
            window.add(now)


def decode_value(key: str, value: str) -> Any:
    """Turn one form field back into the value PTB JSON-encoded (strings stay strings)."""
    if key in _PLAIN_STRING_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def normalise_chat_id(value: Any) -> ChatId | None:
    """``chat_id`` as an int when numeric, the ``@username`` string otherwise."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def chat_object(chat_id: ChatId) -> JSON:
    """A Chat as Telegram reports it: private for positive ids, (super)group for negative."""
    if isinstance(chat_id, str):
        return {"id": -1001000000000, "type": "channel", "title": chat_id, "username": chat_id[1:]}
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}


def bot_user_object(token: str) -> JSON:
    """The bot's own User, as getMe returns it; its id is the token's numeric prefix."""
    bot_id = token.split(":", 1)[0]
    return {
        "id": int(bot_id) if bot_id.isdigit() else 1,
        "is_bot": True,
        "first_name": "防返贫热线测试",
        "username": "fanpin_hotline_test_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def user_object(user_id: int) -> JSON:
    """A human User with a Chinese interface language."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": f"User{user_id}",
        "language_code": "zh-hans",
    }


def check_reply_markup(markup: Any) -> JSON | None:
    """Validate ``reply_markup``; return it decoded (JSON bodies may carry it as a string)."""
    if markup is None:
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def check_text(text: Any, parse_mode: str | None, *, limit: int, kind: str, strict: bool) -> None:
    """Telegram's checks on a message text (``kind="text"``) or caption (``kind="caption"``).

    Length counts code points after entity parsing (HTML tags do not count). With ``strict``,
    HTML must use Telegram's tags, balanced; MarkdownV2 must escape ``. # + - = { } !``.
    """
    visible = "" if text is None else str(text)
    if strict and parse_mode and parse_mode.lower() == "html":
        visible = _visible_html(visible)
    elif strict and parse_mode and parse_mode.lower() == "markdownv2":
        _check_markdown_v2(visible)
    if kind == "text" and not visible.strip():
        raise bad_request("message text is empty")
    if len(visible) > limit:
        raise bad_request(
            "message caption is too long" if kind == "caption" else "message is too long"
        )


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise bad_request(f'can\'t parse entities: Unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def _visible_html(text: str) -> str:
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1]
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        )
    return "".join(parser.visible)


def _check_markdown_v2(text: str) -> None:
    in_code = in_url = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "`":
            in_code = not in_code
        elif in_code:
            continue
        elif in_url:
            in_url = char != ")"
        elif char == "(" and text[index - 1 : index] == "]":
            in_url = True
        elif char in _MARKDOWN_V2_ALWAYS_RESERVED or (
            char == "!" and text[index + 1 : index + 2] != "["
        ):
            raise bad_request(
                f"can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'"
            )


def chat_key(chat_id: ChatId) -> ChatId:
    """``chat_id`` normalised for use as a key (see :func:`normalise_chat_id`)."""
    normalised = normalise_chat_id(chat_id)
    return chat_id if normalised is None else normalised


async def read_params(request: Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    params: JSON = {key: decode_value(key, value) for key, value in request.query_params.items()}
    files: dict[str, UploadedFile] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        try:
            params.update(json.loads(body) if body.strip() else {})
        except ValueError:
            raise bad_request("can't parse JSON object") from None
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form(max_part_size=50 * 1024 * 1024) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    files[key] = UploadedFile(key, value.filename, value.content_type, data)
                else:
                    params[key] = decode_value(key, value)
    if "chat_id" in params:
        params["chat_id"] = normalise_chat_id(params["chat_id"])
    return params, files
