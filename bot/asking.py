"""Putting a question into a reply: a step's prompt with its buttons, or the confirmation
of a number the bot guessed ("大约 40,000 元，对吗？") with 对 / 不对 buttons.

Pure functions of the step and the answers; the engine calls them whenever it asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from bot.flow import NUMBER_UNITS, Answers, Button, Context, Kind, Reply, Step, Text

GLOBAL_PREFIX: Final = "g:"
#: Button values of a confirmation (``<step>:ok`` / ``<step>:redo``); no choice uses them.
CONFIRM_YES: Final = "ok"
CONFIRM_NO: Final = "redo"


def render_step(step: Step, answers: Answers, context: Context, *, in_menu: bool) -> Reply:
    """The question of ``step`` as a reply: prompt, hints and buttons."""
    params = dict(step.prompt_params(answers, context)) if step.prompt_params else {}
    parts: list[Text | str] = [Text(step.prompt, params)]
    buttons: list[Button] = []
    if step.kind is Kind.CHOICE:
        buttons = [Button(c.text, f"{step.id}:{c.value}") for c in step.options(answers, context)]
    else:
        unit = NUMBER_UNITS.get(step.unit or "") if step.kind is Kind.NUMBER else None
        if unit is not None:
            parts.append(Text(unit[0]))
        buttons = [Button(c.text, f"{step.id}:{c.value}") for c in step.quick]
        if step.unknown_allowed:
            buttons.append(Button(Text("common.unknown"), f"{step.id}:unknown"))
        if step.skippable:
            buttons.append(Button(Text("common.skip"), f"{step.id}:skip"))
    if not in_menu:
        buttons.append(Button(Text("common.back"), f"{GLOBAL_PREFIX}back"))
    return Reply(tuple(parts), tuple(buttons))


def confirm_reply(step: Step, pending: Mapping[str, Any]) -> Reply:
    """Ask whether the number read from what was typed is right, with 对 / 不对 buttons."""
    ask = str(pending["ask"])
    params: dict[str, Any] = {"amount": amount_text(step, str(pending["value"]))}
    if ask == "confirm.monthly":
        params["monthly"] = amount_text(step, str(pending["typed"]))
    if ask == "confirm.wan":
        params = {"number": str(pending["typed"])}
    buttons = (
        Button(Text("confirm.yes"), f"{step.id}:{CONFIRM_YES}"),
        Button(Text("confirm.no"), f"{step.id}:{CONFIRM_NO}"),
        Button(Text("common.back"), f"{GLOBAL_PREFIX}back"),
    )
    return Reply((Text(ask, params),), buttons)


def amount_text(step: Step, number: str) -> Text:
    """``40,000 元``, ``6 个月``, ``5 人`` (the step's unit), grouped by thousands."""
    value = Decimal(number)
    shown = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,}"
    return Text("value.number", {"number": shown, "unit": Text(step.unit) if step.unit else ""})


__all__ = [
    "CONFIRM_NO",
    "CONFIRM_YES",
    "GLOBAL_PREFIX",
    "amount_text",
    "confirm_reply",
    "render_step",
]
