"""The main menu: apply, check progress, ask for a call back, help, language."""

from __future__ import annotations

from typing import Any

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
from intake.tracking import looks_like_tracking_code, normalize_tracking_code


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


def _typed(text: str, _answers: Answers, _context: Context) -> Transition | None:
    """A tracking code typed at the menu goes straight to the status lookup."""
    if looks_like_tracking_code(text):
        code = normalize_tracking_code(text)
        return EndDialog(effects=(Effect("status_requested", {"code": code}),))
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
