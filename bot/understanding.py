"""What typed words mean at a step, before the step reads them.

Villagers answer in their own words: "没" to a yes/no question, "我是他儿子" for the
relation, "我老伴去年住院自己掏了四万多" for an amount, "我的编号是VXFJ-3N5V" for a code.
:func:`interpret` turns such text into what the step understands (a button's data, a
plain number, a code), or into a :class:`Check`: a guessed number the engine confirms
before storing it ("大约 40,000 元，对吗？", "是 2.5 万元吗？"). The words are data
(:mod:`locales.intents`); this module only knows which intents each kind of step accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from bot.asking import CONFIRM_NO, CONFIRM_YES
from bot.flow import Input, Kind, Step, Text
from bot.parsing import Reading, clean, code_in, read_months, read_number
from locales.intents import Intents

MONTHS: Final = "unit.months"
YUAN: Final = "unit.yuan"
#: Intents that are never a person's name (a name step asks again when one is typed).
_NOT_NAMES: Final = ("yes", "no", "unsure", "skip")
_SKIP: Final = ("skip", "no")
_YES_NO: Final = ("yes", "no")


@dataclass(frozen=True)
class Check:
    """A number read with some guessing, to confirm before the step stores it.

    ``ask`` is the question's message id; ``typed`` the number as the person wrote it
    (per month, or in 万); ``value`` what the step reads once confirmed.
    """

    ask: str
    typed: Decimal
    value: Decimal

    def pending(self, step: Step) -> dict[str, Any]:
        """The JSON the session keeps while waiting for 对 / 不对."""
        return {
            "step": step.id,
            "ask": self.ask,
            "typed": _plain(self.typed),
            "value": _plain(self.value),
        }


def chosen(step: Step, given: Input, intents: Intents) -> Input:
    """A word naming one of the step's own buttons presses it (村干部 at the relation step).

    Runs before the global commands, so a step's answer wins over a command sharing the
    word; anything else is returned unchanged.
    """
    if given.data is not None or step.kind not in (Kind.CHOICE, Kind.NUMBER):
        return given
    choices = step.choices if step.kind is Kind.CHOICE else step.quick
    by_intent = {c.intent: c.value for c in choices if c.intent}
    if step.kind is Kind.NUMBER and step.unknown_allowed:
        by_intent.setdefault("unsure", "unknown")
    intent = intents.match(clean(given.text), by_intent) if by_intent else None
    return given if intent is None else Input(data=f"{step.id}:{by_intent[intent]}")


def confirmation(step: Step, given: Input, intents: Intents) -> bool | None:
    """Whether ``given`` says yes (``True``) or no (``False``) to a confirmation, or neither."""
    if given.data is not None:
        value = given.data.removeprefix(f"{step.id}:")
        return {CONFIRM_YES: True, CONFIRM_NO: False}.get(value)
    said = intents.match(clean(given.text), _YES_NO)
    return None if said is None else said == "yes"


def interpret(step: Step, given: Input, intents: Intents) -> Input | Check | Text:
    """What ``given`` says at ``step``: a rewritten input, a number to confirm, or a problem."""
    if given.data is not None:
        return given
    text = clean(given.text)
    if step.kind is Kind.NUMBER:
        return _number(step, given, text)
    if step.kind is Kind.NAME and intents.match(text, _NOT_NAMES):
        return Text("error.name_word", {"typed": text})
    if step.kind in (Kind.TEXT, Kind.NAME) and step.skippable and intents.match(text, _SKIP):
        return Input(data=f"{step.id}:skip")
    if step.kind is Kind.TRACKING_CODE:
        code = code_in(text)
        return Input(text=code) if code else given
    return given


def _number(step: Step, given: Input, text: str) -> Input | Check | Text:
    reading = read_months(text) if step.unit == MONTHS else read_number(text)
    if reading is None:
        return given  # the step explains, with examples in its unit
    if reading.per_month:
        if not step.per_year:
            return Text("error.total_needed")
        return Check("confirm.monthly", reading.value, reading.value * 12)
    if _implausibly_small(step, reading):
        return Check("confirm.wan", reading.value, reading.value * 10_000)
    if reading.approximate:
        return Check("confirm.approx", reading.value, reading.value)
    if reading.in_sentence:
        return Check("confirm.read", reading.value, reading.value)
    return Input(text=_plain(reading.value))


def _implausibly_small(step: Step, reading: Reading) -> bool:
    """ "2.5" for a year's income: probably 2.5 万 (a unit written, 2.5元, is taken as is)."""
    return (
        step.unit == YUAN
        and not reading.unit_given
        and 0 < reading.value < Decimal(str(step.implausible_below))
    )


def _plain(number: Decimal) -> str:
    """``40000``, ``2.5``: no exponent, no trailing zeros."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


__all__ = ["Check", "chosen", "confirmation", "interpret"]
