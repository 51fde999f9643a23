"""Rendering engine replies into a language: message ids to text, dates the local way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.flow import Reply, Text
from locales import translate


@dataclass(frozen=True)
class Rendered:
    """A reply ready for a channel: text plus ``(label, data)`` buttons.

    ``free_answer`` marks a question answered by typing (an amount, a name, a phone) whose
    buttons are only shortcuts: a channel without buttons must not number them, or a
    typed "1" would be both one yuan and the first button (:mod:`bot.numbered`).
    """

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    free_answer: bool = False

    def to_json(self) -> dict[str, Any]:
        """The wire shape used by the webhook channel and the outbox."""
        shape: dict[str, Any] = {
            "text": self.text,
            "buttons": [{"label": lb, "data": d} for lb, d in self.buttons],
        }
        if self.free_answer:
            shape["free_answer"] = True
        return shape

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rendered:
        """Inverse of :meth:`to_json`."""
        buttons = tuple((str(b["label"]), str(b["data"])) for b in data.get("buttons", []))
        free = bool(data.get("free_answer"))
        return cls(text=str(data.get("text", "")), buttons=buttons, free_answer=free)


def text(value: Any, locale: str) -> str:
    """Render a :class:`Text`, a string, a date, a number or a sequence of those."""
    if isinstance(value, Text):
        params = {key: text(param, locale) for key, param in value.params.items()}
        return translate(locale, value.msgid, **params)
    if isinstance(value, tuple | list):
        return "\n".join(text(item, locale) for item in value)
    if isinstance(value, date):
        return format_date(value, locale)
    return str(value)


def format_date(day: date, locale: str) -> str:
    """``2026年12月3日`` in Chinese, ``3 Dec 2026`` in English."""
    if locale == "en":
        return f"{day.day} {day.strftime('%b')} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def render(reply: Reply, locale: str) -> Rendered:
    """A reply in ``locale``."""
    body = "\n".join(text(part, locale) for part in reply.parts)
    buttons = tuple((text(b.label, locale), b.data) for b in reply.buttons)
    return Rendered(body, buttons)
