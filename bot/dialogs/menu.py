"""The main menu: apply, my applications, check progress, report a problem, call back, help,
language.

Work left unfinished (an application half filled in when the person sent /start, scanned
a poster again or stayed away past the session's life) is kept in the menu's answers
under :data:`~bot.flow.UNFINISHED`: the menu then first asks 继续上次的申请 / 重新开始,
and shows 继续上次的申请 on top of its choices, the way a saved draft is offered.
"""

from __future__ import annotations

from typing import Any

from bot.answering import tracking_code_error
from bot.dialogs import helper_link, report, visit
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
from bot.parsing import clean, code_in
from intake.helpers.links import looks_like_link_code
from intake.tracking import (
    CodeProblem,
    looks_like_tracking_code,
    normalize_tracking_code,
    tracking_code_problem,
)
from locales.intents import default_intents


def _kept(answers: Answers) -> dict[str, Any] | None:
    kept = answers.get(UNFINISHED)
    return kept if isinstance(kept, dict) else None


def _offer(answers: Answers) -> dict[str, Any]:
    """What a report lookup just offered (see :data:`REPORT_OFFER`), or nothing."""
    offer = answers.get(REPORT_OFFER)
    return offer if isinstance(offer, dict) else {}


def _choices(answers: Answers, context: Context) -> tuple[Choice, ...]:
    resume = (Choice("resume", "menu.resume_draft"),) if _kept(answers) or context.draft else ()
    offer = _offer(answers)
    follow = tuple(Choice(value, label) for value, label in FOLLOW_UPS.items() if offer.get(value))
    return (
        *follow,
        *resume,
        Choice("apply", "menu.apply"),
        Choice("mine", "menu.mine"),
        Choice("status", "menu.status"),
        Choice("report", "menu.report", intent="report"),
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
_OPENS = {
    "mine": "mine",
    "status": "status",
    "report": "report",
    "human": "callback",
    "language": "language",
}
#: The menu's answer key where a report lookup leaves what it offered the person next:
#: ``{"code": ..., "report_verify": True}`` (give the ID number's last 4 to read the
#: answer) or ``{"code": ..., "report_object": True}`` (object to the answer). Set by
#: :mod:`bot.effect_kinds.reports`; any menu choice clears it. For an anonymous report
#: no code is kept (the follow-up asks for it), so the session holds no link to it.
REPORT_OFFER = "report_offer"
VERIFY, OBJECT = "report_verify", "report_object"
FOLLOW_UPS = {VERIFY: "menu.report_verify", OBJECT: "menu.report_object"}


def _follow_up(value: str, offer: dict[str, Any], context: Context) -> StartDialog:
    """Into the report follow-up with what the lookup offered."""
    answers: dict[str, Any] = {
        "mode": "verify" if value == VERIFY else "object",
        "started_at": context.now.isoformat(),
    }
    for key in ("code", "id_ending"):
        if offer.get(key):
            answers[key] = offer[key]
    return StartDialog("report_followup", answers=answers, suspend=True)


def _after(value: Any, answers: Answers, context: Context) -> Transition:
    offer = _offer(answers)
    answers.pop(REPORT_OFFER, None)  # an offer lasts until the next choice
    answers.pop("choose", None)  # what was chosen need not stay in the session
    if value in (VERIFY, OBJECT) and offer.get(value):
        return _follow_up(str(value), offer, context)
    kept = _kept(answers)
    if value == "apply":
        return Goto("offer") if kept else _apply(context)
    if value == "resume" and kept:
        return _resume(kept)
    if value == "resume" and context.draft:
        return StartDialog("self_application", answers=context.draft, step="consent")
    if value in _OPENS:
        opened = _OPENS[str(value)]
        # A report's clock starts here, so the message that opened it is scrubbed too.
        stamp = {"started_at": context.now.isoformat()} if opened == "report" else {}
        return StartDialog(opened, answers=stamp, suspend=True)
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


def _typed(text: str, _answers: Answers, context: Context) -> Transition | Text | None:
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
    if _about_reporting(text):
        return _report(text, context)
    return None


def _report(text: str, context: Context) -> StartDialog:
    """Into the report dialog; past its first question when the words named the kind
    ("我要投诉", "提个建议"), which 返回 still brings back."""
    answers: dict[str, Any] = {"started_at": context.now.isoformat()}
    kind = default_intents().match(clean(text), _KIND_INTENTS)
    if kind is None:
        return StartDialog("report", answers=answers, suspend=True)
    answers["kind"] = kind.removeprefix("kind.")
    following = report.DIALOG.after("kind", answers, context)
    step = following.id if following is not None else None
    return StartDialog("report", answers=answers, step=step, suspend=True, history=("kind",))


#: Words that, inside a longer sentence typed at the menu ("我想反映一下村里的事"), mean
#: the person wants to report something; a bare word is matched as the ``report`` intent.
REPORT_WORDS = (
    *("举报", "投诉", "反映", "线索", "意见", "建议", "检举", "告状", "揭发", "咨询"),
    *("complain", "report a", "suggest"),
)


_KIND_INTENTS = tuple(str(choice.intent) for choice in report.KINDS)


def _about_reporting(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in REPORT_WORDS)


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
