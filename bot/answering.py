"""Turning one input into one step's answer, or into a kind explanation of what went wrong.

:func:`read` returns the value to store, or a :class:`~bot.flow.Text` saying, in the
person's language, what the step needs. It never raises on any input.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.flow import Answers, Choice, Context, Kind, Step, Text
from bot.parsing import clean, normalize, parse_amount
from intake.identity import IdProblem, normalize_phone, validate_id_number
from intake.tracking import normalize_tracking_code
from locales import LOCALES, translate

if TYPE_CHECKING:
    from bot.engine import Input

UNKNOWN_WORDS = frozenset(
    {"不清楚", "不知道", "不晓得", "说不清", "unknown", "not sure", "don't know"}
)
SKIP_WORDS = frozenset({"跳过", "不用", "不用了", "没有", "skip", "no"})
_YES = frozenset({"是", "是的", "有", "对", "嗯", "好", "同意", "yes", "y"})
_NO = frozenset({"否", "不是", "没有", "无", "不", "no", "n"})


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
    if pressed is not None:
        return Text("error.type_it")
    if step.kind is Kind.ID_NUMBER:
        checked = validate_id_number(text, today=context.now.date())
        return Text(f"error.id.{checked.value}") if isinstance(checked, IdProblem) else checked
    if step.kind is Kind.PHONE:
        phone = normalize_phone(text)
        return Text("error.phone") if phone is None else phone
    code = normalize_tracking_code(text)
    return Text("error.tracking_code") if code is None else code


def _button_value(step: Step, data: str | None) -> str | None:
    if data is None:
        return None
    return data.removeprefix(f"{step.id}:")


def _choice(step: Step, pressed: str | None, text: str, answers: Answers, context: Context) -> Any:
    options = step.options(answers, context)
    if pressed is not None:
        found = next((c for c in options if c.value == pressed), None)
        return Text("error.choice") if found is None else found.stored
    found = _match_typed(options, text)
    return Text("error.choice") if found is None else found.stored


def _match_typed(options: tuple[Choice, ...], text: str) -> Choice | None:
    """A typed choice: its number ("1"), its label in any language, or yes/no words."""
    lowered = text.lower()
    if lowered.isdigit() and 1 <= int(lowered) <= len(options):
        return options[int(lowered) - 1]
    for choice in options:
        if choice.literal:
            labels = {choice.label.lower()}
        else:
            labels = {translate(locale, choice.label).lower() for locale in LOCALES}
        if lowered in labels or lowered == choice.value:
            return choice
    values = {c.value: c for c in options}
    if lowered in _YES and "yes" in values:
        return values["yes"]
    if lowered in _NO and "no" in values:
        return values["no"]
    if lowered in UNKNOWN_WORDS and "unknown" in values:
        return values["unknown"]
    return None


def _number(step: Step, pressed: str | None, text: str) -> Any:
    if pressed == "unknown" or (pressed is None and text.lower() in UNKNOWN_WORDS):
        return None if step.unknown_allowed else Text("error.number_needed")
    if pressed is not None:
        quick = next((c for c in step.quick if c.value == pressed), None)
        return Text("error.choice") if quick is None else quick.stored
    amount = parse_amount(text)
    if amount is None:
        return Text("error.number", {"unit": _unit(step)})
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


def _unit(step: Step) -> Text | str:
    return Text(step.unit) if step.unit else ""


def _show(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"
