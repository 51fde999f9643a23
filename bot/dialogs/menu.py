"""The main menu: apply, check progress, ask for a call back, help, language."""

from __future__ import annotations

from typing import Any

from bot.answering import tracking_code_error
from bot.flow import (
    Answers,
    Choice,
    Context,
    Dialog,
    Effect,
    EndDialog,
    StartDialog,
    Step,
    Text,
    Transition,
)
from bot.parsing import code_in
from intake.tracking import (
    CodeProblem,
    looks_like_tracking_code,
    normalize_tracking_code,
    tracking_code_problem,
)


def _choices(_answers: Answers, context: Context) -> tuple[Choice, ...]:
    resume = (Choice("resume", "menu.resume_draft"),) if context.draft else ()
    return (
        *resume,
        Choice("apply", "menu.apply"),
        Choice("status", "menu.status"),
        Choice("human", "menu.human"),
        Choice("help", "menu.help"),
        Choice("language", "menu.language"),
    )


def _after(value: Any, _answers: Answers, context: Context) -> Transition:
    if value == "apply":
        known = {"village": context.known_village} if context.known_village else {}
        return StartDialog("self_application", answers=known)
    if value == "resume" and context.draft:
        return StartDialog("self_application", answers=context.draft, step="consent")
    if value == "status":
        return StartDialog("status")
    if value == "human":
        return StartDialog("callback")
    if value == "language":
        return StartDialog("language")
    return EndDialog(message=Text("help.general"))


def _typed(text: str, _answers: Answers, _context: Context) -> Transition | Text | None:
    """A tracking code typed at the menu goes straight to the status lookup.

    The code may sit inside a sentence ("我的编号是VXFJ-3N5V"). A mistyped one (wrong
    check symbol, or a look-alike such as O for D among letters and digits) is explained
    rather than met with "not understood".
    """
    text = code_in(text) or text
    if looks_like_tracking_code(text):
        code = normalize_tracking_code(text)
        if code is None:
            return tracking_code_error(text)
        return EndDialog(effects=(Effect("status_requested", {"code": code}),))
    problem = tracking_code_problem(text)
    if problem is not None and problem[0] is CodeProblem.LOOK_ALIKE:
        typed = problem[1]
        if any(ch.isdigit() for ch in typed) and any(ch.isalpha() for ch in typed):
            return tracking_code_error(text)
    return None


DIALOG = Dialog(
    id="menu",
    steps=(
        Step(
            "choose",
            "menu.prompt",
            choices_for=_choices,
            after=_after,
            fallback=_typed,
            help="help.menu",
        ),
    ),
    finish=lambda _answers, _context: EndDialog(),
)
