"""The main menu: apply, my applications, check progress, call back, help, language.

Work left unfinished (an application half filled in when the person sent /start, scanned
a poster again or stayed away past the session's life) is kept in the menu's answers
under :data:`~bot.flow.UNFINISHED`: the menu then first asks 继续上次的申请 / 重新开始,
and shows 继续上次的申请 on top of its choices, the way a saved draft is offered.
"""

from __future__ import annotations

from typing import Any

from bot.answering import tracking_code_error
from bot.dialogs import helper_link, visit
from bot.flow import (
    UNFINISHED,
    Answers,
    Choice,
    Context,
    Dialog,
    Effect,
    EndDialog,
    Goto,
    StartDialog,
    Step,
    Text,
    Transition,
)
from bot.parsing import code_in
from intake.helpers.links import looks_like_link_code
from intake.tracking import (
    CodeProblem,
    looks_like_tracking_code,
    normalize_tracking_code,
    tracking_code_problem,
)


def _kept(answers: Answers) -> dict[str, Any] | None:
    kept = answers.get(UNFINISHED)
    return kept if isinstance(kept, dict) else None


def _choices(answers: Answers, context: Context) -> tuple[Choice, ...]:
    resume = (Choice("resume", "menu.resume_draft"),) if _kept(answers) or context.draft else ()
    return (
        *resume,
        Choice("apply", "menu.apply"),
        Choice("mine", "menu.mine"),
        Choice("status", "menu.status"),
        Choice("human", "menu.human"),
        Choice("help", "menu.help"),
        Choice("language", "menu.language"),
        *((Choice("visit", "menu.visit"),) if context.helper else ()),
    )


def _apply(context: Context) -> StartDialog:
    """A new application, its village already known when the person came by a poster."""
    known = {"village": context.known_village} if context.known_village else {}
    return StartDialog("self_application", answers=known)


def _resume(kept: dict[str, Any]) -> StartDialog:
    """Back to the unfinished question, with the answers and the way back as they were."""
    return StartDialog(
        str(kept["dialog"]),
        answers=dict(kept.get("answers") or {}),
        step=str(kept["step"]),
        history=tuple(kept.get("history") or ()),
    )


#: Menu choices that open a dialog and come back to the menu (keeping what it keeps).
_OPENS = {"mine": "mine", "status": "status", "human": "callback", "language": "language"}


def _after(value: Any, answers: Answers, context: Context) -> Transition:
    kept = _kept(answers)
    if value == "apply":
        return Goto("offer") if kept else _apply(context)
    if value == "resume" and kept:
        return _resume(kept)
    if value == "resume" and context.draft:
        return StartDialog("self_application", answers=context.draft, step="consent")
    if value in _OPENS:
        return StartDialog(_OPENS[str(value)], suspend=True)
    if value == "visit":
        return visit.listed()
    return EndDialog(message=Text("help.general"))


def _offered(value: Any, answers: Answers, context: Context) -> Transition:
    """继续上次的申请 / 重新开始 / 办别的事."""
    kept = _kept(answers)
    if value == "continue" and kept:
        return _resume(kept)
    if value == "restart":
        return _apply(context)
    return Goto("choose")


def _has_unfinished(answers: Answers, _context: Context) -> bool:
    return _kept(answers) is not None


def _typed(text: str, _answers: Answers, _context: Context) -> Transition | Text | None:
    """A tracking code typed at the menu goes straight to the status lookup.

    The code may sit inside a sentence ("我的编号是VXFJ-3N5V"). A mistyped one (wrong
    check symbol, or a look-alike such as O for D among letters and digits) is explained
    rather than met with "not understood".
    """
    if looks_like_link_code(text):  # a helper's one-time code (帮扶责任人绑定)
        return helper_link.check(text)
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
            "offer",  # not UNFINISHED: the answer is stored under the step's id
            "menu.unfinished",
            when=_has_unfinished,
            choices=(
                Choice("continue", "menu.resume_draft", intent="yes"),
                Choice("restart", "menu.restart", intent="restart"),
                Choice("other", "menu.other"),
            ),
            after=_offered,
            fallback=_typed,
            help="help.unfinished",
        ),
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
