"""Linking a helper's chat (绑定帮扶责任人): a one-time code, then "是<name>吗?".

The township gives the helper a code (``hotline helper invite``). The helper opens the deep
link ``/start h_<code>`` in Telegram, or types the bare code at the menu in any channel.
The code is checked (:func:`intake.helpers.links.check_link_code`: single use, 72 hours,
guessing throttled per chat) by the effect ``helper_link_checked``, which asks the helper
to confirm the name it belongs to; only a "yes" uses the code (``helper_link_redeemed``).
The engine never reads the database: both lookups are effects the dialog awaits.
"""

from __future__ import annotations

from typing import Any

from bot.dialogs.common import YES_NO
from bot.flow import (
    Answers,
    Await,
    Context,
    Dialog,
    Effect,
    EndDialog,
    Entry,
    Kind,
    Step,
    Text,
    Transition,
)

DIALOG_ID = "helper_link"
#: The deep link's payload prefix (``/start h_<code>``), as :mod:`intake.helpers.links` makes it.
START_PREFIX = "h_"


def check(code: str) -> Await:
    """Look the code up; the effect asks the name question or explains the refusal."""
    return Await((Effect("helper_link_checked", {"code": code}),))


def _opened(rest: str, _answers: Answers, _context: Context) -> Transition:
    return check(rest)


def _typed(value: Any, _answers: Answers, _context: Context) -> Transition:
    return check(str(value))


def _confirmed(value: Any, answers: Answers, _context: Context) -> Transition:
    if value is True:
        return Await((Effect("helper_link_redeemed", {"code": answers.get("code", "")}),))
    return EndDialog(message=Text("helpers.link.not_you"))


def _name(answers: Answers, _context: Context) -> dict[str, Any]:
    return {"name": answers.get("name", "")}


DIALOG = Dialog(
    id=DIALOG_ID,
    steps=(
        Step(
            "code",
            "helpers.link.ask_code",
            kind=Kind.TEXT,
            min_length=4,
            max_length=40,
            after=_typed,
            help="helpers.link.help",
        ),
        Step(
            "confirm",
            "helpers.link.confirm",
            choices=YES_NO,
            prompt_params=_name,
            after=_confirmed,
            help="helpers.link.help",
        ),
    ),
    finish=lambda _answers, _context: EndDialog(),
    entry=Entry(START_PREFIX, "start", _opened),
)
