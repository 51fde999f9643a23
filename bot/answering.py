"""Turning one input into one step's answer, or into a kind explanation of what went wrong.

:func:`read` returns the value to store, or a :class:`~bot.flow.Text` saying, in the
person's language, what the step needs. It never raises on any input.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.flow import NUMBER_UNITS, Answers, Choice, Context, Kind, Step, Text
from bot.parsing import clean, normalize, parse_amount, parse_months, press_number
from intake.identity import IdProblem, normalize_phone, validate_id_number
from intake.tracking import (
    LOOK_ALIKES,
    CodeProblem,
    normalize_tracking_code,
    tracking_code_problem,
)
from locales import LOCALES, translate

if TYPE_CHECKING:
    from bot.engine import Input

UNKNOWN_WORDS = frozenset(
    {"不清楚", "不知道", "不晓得", "说不清", "unknown", "not sure", "don't know"}
)
SKIP_WORDS = frozenset({"跳过", "不用", "不用了", "没有", "skip", "no"})
_YES = frozenset({"是", "是的", "有", "对", "嗯", "好", "同意", "yes", "y"})
_NO = frozenset({"否", "不是", "没有", "无", "不", "no", "n"})
MONTHS = "unit.months"
#: Dots people put between the parts of a name (买买提·艾力), all stored as "·".
_NAME_DOTS = str.maketrans(dict.fromkeys("•・‧･.", "·"))
#: What a look-alike character outside the tracking-code alphabet was probably meant as.
_MAYBE = {
    "DQ": "tracking.maybe.dq",
    "7JT": "tracking.maybe.7jt",
    "V": "tracking.maybe.v",
    "2": "tracking.maybe.2",
}


def read(step: Step, given: Input, answers: Answers, context: Context) -> Any:
    """The answer ``given`` makes to ``step``, or a :class:`Text` explaining the problem."""
    pressed = _button_value(step, given.data)
    text = clean(given.text) if pressed is None else ""
    if step.kind is Kind.CHOICE:
        return _choice(step, pressed, normalize(text), answers, context)
    if step.kind is Kind.NUMBER:
        return _number(step, pressed, normalize(text))
    if step.kind is Kind.TEXT:
        return _text(step, pressed, text)
    if step.kind is Kind.NAME:
        return _name(step, pressed, text)
    if pressed is not None:
        return Text("error.type_it")
    if step.kind is Kind.ID_NUMBER:
        checked = validate_id_number(text, today=context.now.date())
        return Text(f"error.id.{checked.value}") if isinstance(checked, IdProblem) else checked
    if step.kind is Kind.PHONE:
        phone = normalize_phone(text)
        return Text("error.phone") if phone is None else phone
    code = normalize_tracking_code(text)
    return tracking_code_error(text) if code is None else code


def tracking_code_error(text: str) -> Text:
    """What is wrong with a typed tracking code, in words a villager can act on."""
    found = tracking_code_problem(text)
    if found is not None and found[0] is CodeProblem.CHECK:
        return Text("error.tracking_code.check", {"code": found[1]})
    if found is not None and found[0] is CodeProblem.LOOK_ALIKE:
        seen = dict.fromkeys(ch for ch in found[1] if ch in LOOK_ALIKES)
        hints = tuple(
            Text("error.tracking_code.maybe", {"char": c, "options": Text(_MAYBE[LOOK_ALIKES[c]])})
            for c in seen
        )
        return Text("error.tracking_code.look_alike", {"hints": hints})
    return Text("error.tracking_code")


def _button_value(step: Step, data: str | None) -> str | None:
    if data is None:
        return None
    return data.removeprefix(f"{step.id}:")


def _choice(step: Step, pressed: str | None, text: str, answers: Answers, context: Context) -> Any:
    options = step.options(answers, context)
    if pressed is not None:
        found = next((c for c in options if c.value == pressed), None)
        return Text("error.choice") if found is None else found.stored
    matches = _match_typed(options, text)
    if len(matches) == 1:
        return matches[0][1].stored
    if matches:
        shown = tuple(
            Text("error.choice_option", {"number": number, "label": choice.text})
            for number, choice in matches
        )
        return Text("error.choice_ambiguous", {"typed": text, "options": shown})
    return Text("error.choice")


def _match_typed(options: tuple[Choice, ...], text: str) -> list[tuple[int, Choice]]:
    """The choices typed text names, with their button numbers (1-based).

    In order: the button's number (``"1"``, ``"#1"``, ``"＃ 1"``), a whole label in any
    language or the value, a yes/no/unknown word; then every choice whose label contains
    the text (``"柏岭"`` for 柏岭村). More than one match is ambiguous; the caller asks.
    """
    lowered = text.lower()
    number = press_number(lowered)
    if number is not None:
        return [(number, options[number - 1])] if 1 <= number <= len(options) else []
    numbered = list(enumerate(options, 1))
    labels = {choice.value: _labels(choice) for choice in options}
    for index, choice in numbered:
        if lowered in labels[choice.value] or lowered == choice.value:
            return [(index, choice)]
    for words, value in ((_YES, "yes"), (_NO, "no"), (UNKNOWN_WORDS, "unknown")):
        word = [(i, c) for i, c in numbered if c.value == value] if lowered in words else []
        if word:
            return word[:1]
    if not _can_be_part(lowered):
        return []
    return [(i, c) for i, c in numbered if any(lowered in label for label in labels[c.value])]


def _labels(choice: Choice) -> set[str]:
    """A choice's label in every language, folded the way typed text is."""
    if choice.literal:
        shown = {choice.label}
    else:
        shown = {translate(locale, choice.label) for locale in LOCALES}
    return {normalize(label).lower() for label in shown}


def _can_be_part(text: str) -> bool:
    """Whether ``text`` may match as part of a label: a letter or digit in it, and two or
    more characters unless it is Chinese (one character such as 柏 is already a word)."""
    if not any(ch.isalnum() for ch in text):
        return False
    return len(text) >= 2 or not text.isascii()


def _number(step: Step, pressed: str | None, text: str) -> Any:
    if pressed == "unknown" or (pressed is None and text.lower() in UNKNOWN_WORDS):
        return None if step.unknown_allowed else Text("error.number_needed")
    if pressed is not None:
        quick = next((c for c in step.quick if c.value == pressed), None)
        return Text("error.choice") if quick is None else quick.stored
    amount = parse_months(text) if step.unit == MONTHS else parse_amount(text)
    if amount is None:
        return Text("error.number", {"examples": _examples(step)})
    if step.integer and amount != amount.to_integral_value():
        return Text("error.whole_number")
    if not Decimal(str(step.minimum)) <= amount <= Decimal(str(step.maximum)):
        return Text(
            "error.range",
            {"low": _show(step.minimum), "high": _show(step.maximum), "unit": _unit(step)},
        )
    value = amount * Decimal(str(step.scale))
    return int(value) if value == value.to_integral_value() else float(round(value, 4))


def _text(step: Step, pressed: str | None, text: str) -> Any:
    if pressed == "skip" and step.skippable:
        return None
    if pressed is not None:
        return Text("error.type_it")
    printable = "".join(ch for ch in text if ch.isprintable())
    if not step.min_length <= len(printable) <= step.max_length:
        return Text("error.length", {"low": step.min_length, "high": step.max_length})
    return printable


def _name(step: Step, pressed: str | None, text: str) -> Any:
    """A person's name: letters of any script, "·" between parts, single spaces."""
    if pressed == "skip" and step.skippable:
        return None
    if pressed is not None:
        return Text("error.type_it")
    name = " ".join(unicodedata.normalize("NFKC", text).split()).translate(_NAME_DOTS)
    name = name.replace(" · ", "·").replace("· ", "·").replace(" ·", "·").rstrip("。· ")
    letters = all(ch.isalpha() or ch in " ·" or unicodedata.category(ch)[0] == "M" for ch in name)
    if not letters or not name[:1].isalpha() or name.endswith("·") or "··" in name:
        return Text("error.name")
    if not step.min_length <= len(name) <= step.max_length:
        return Text("error.length", {"low": step.min_length, "high": step.max_length})
    return name


def _examples(step: Step) -> Text:
    """Examples of an answer in the step's unit (3 or 6 months; 3000 or 3万 yuan)."""
    unit = NUMBER_UNITS.get(step.unit or "")
    return Text(unit[1] if unit else "example.number")


def _unit(step: Step) -> Text | str:
    return Text(step.unit) if step.unit else ""


def _show(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"
