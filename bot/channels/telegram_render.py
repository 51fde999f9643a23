"""Turning rendered replies into Telegram messages: HTML-escaped parts and inline keyboards.

Telegram takes at most 4,096 characters per message (counted in UTF-16 code units after
entity parsing) and 64 bytes of callback data per button. A long reply is split at the
best boundary available (a blank line, a line, a sentence, a space), and its buttons go
under the last part. Every text is escaped: people's names and typed words never become
markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
#: Where a long text is best cut, best first.
_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "；", "，", " ")
#: Button labels up to this display width go three to a row; up to twice it, two.
_NARROW = 8
PRESSED_MARK = "☑"


class CallbackDataTooLong(ValueError):
    """A button's data does not fit Telegram's 64 bytes (a bug in a dialog)."""


@dataclass(frozen=True)
class Part:
    """One Telegram message: HTML text and, on the last part, the keyboard."""

    html: str
    markup: InlineKeyboardMarkup | None = None


def utf16_len(text: str) -> int:
    """Telegram's length of ``text``: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 units, cut where reading allows."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _best_cut(head)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units."""
    size = 0
    for index, char in enumerate(text):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > limit:
            return text[:index]
    return text


def _best_cut(head: str) -> int:
    """Where to end a piece taken from ``head``: after a boundary in its second half."""
    for mark in _BREAKS:
        at = head.rfind(mark)
        if at >= len(head) // 2:
            return at + len(mark)
    return len(head)


def _width(label: str) -> int:
    return sum(2 if ord(char) > 0x2E80 else 1 for char in label)


def keyboard(buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard: short labels share a row, long ones get their own.

    ``g:`` buttons (back, menu) go on a last row of their own, so they are never tapped by
    mistake for an answer. Raises :class:`CallbackDataTooLong` for data over 64 bytes.
    """
    if not buttons:
        return None
    for _label, data in buttons:
        if not 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES:
            raise CallbackDataTooLong(f"callback data of {len(data.encode())} bytes")
    answers = [b for b in buttons if not b[1].startswith("g:")]
    globals_ = [b for b in buttons if b[1].startswith("g:")]
    widest = max((_width(label) for label, _ in answers), default=0)
    per_row = 3 if widest <= _NARROW else 2 if widest <= 2 * _NARROW else 1
    rows = [answers[i : i + per_row] for i in range(0, len(answers), per_row)]
    if globals_:
        rows.append(globals_)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def parts(payload: dict[str, Any]) -> list[Part]:
    """The messages of an outbox payload ``{"text", "buttons": [{"label", "data"}]}``."""
    buttons = [(str(b["label"]), str(b["data"])) for b in payload.get("buttons") or []]
    pieces = split_text(str(payload.get("text") or ""))
    markup = keyboard(buttons)
    escaped = [html.escape(piece, quote=False) for piece in pieces]
    return [Part(text, markup if i == len(escaped) - 1 else None) for i, text in enumerate(escaped)]


def pressed_text(message_html: str, label: str) -> str | None:
    """The question's text with the tapped choice under it, or ``None`` if too long."""
    marked = f"{message_html}\n\n{PRESSED_MARK} {html.escape(label, quote=False)}"
    visible = html.unescape(marked)
    return marked if utf16_len(visible) <= MAX_TEXT else None
