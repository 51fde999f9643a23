"""Where one person stands in a conversation, and the work they would lose by leaving it.

A :class:`Session` is plain JSON-able data (stored encrypted by :mod:`bot.sessions`); the
engine (:mod:`bot.engine`) never changes the one it was given. :func:`unfinished` finds
the work a /start, a poster scanned again or an idle timeout would otherwise drop: the
menu keeps it and offers it back (继续上次的申请 / 重新开始).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.flow import UNFINISHED, Answers, Dialog

MENU = "menu"


@dataclass
class Session:
    """Where one person stands: dialog, step, answers so far, and the way back."""

    dialog: str = MENU
    step: str = ""
    answers: Answers = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    language: str = "zh_CN"
    editing: bool = False
    invalid: int = 0
    stack: list[dict[str, Any]] = field(default_factory=list)
    updated_at: str | None = None
    #: A guessed number waiting for 对 / 不对 (see :class:`bot.understanding.Check`).
    pending: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "dialog": self.dialog,
            "step": self.step,
            "answers": self.answers,
            "history": self.history,
            "language": self.language,
            "editing": self.editing,
            "invalid": self.invalid,
            "stack": self.stack,
            "updated_at": self.updated_at,
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Session:
        """Rebuild from :meth:`to_json` output."""
        return cls(
            dialog=str(data.get("dialog", MENU)),
            step=str(data.get("step", "")),
            answers=dict(data.get("answers", {})),
            history=list(data.get("history", [])),
            language=str(data.get("language", "zh_CN")),
            editing=bool(data.get("editing", False)),
            invalid=int(data.get("invalid", 0)),
            stack=list(data.get("stack", [])),
            updated_at=data.get("updated_at"),
            pending=dict(pending) if isinstance(pending := data.get("pending"), Mapping) else None,
        )


def copy_session(session: Session) -> Session:
    """A copy the engine may change without touching the caller's session."""
    return replace(
        session,
        answers=dict(session.answers),
        history=list(session.history),
        stack=list(session.stack),
    )


def unfinished(dialogs: Mapping[str, Dialog], state: Session) -> dict[str, Any] | None:
    """The work the person would lose by going to the menu now, if any.

    The current dialog or one suspended under it (an application left for a call-back
    request), when it is resumable and past its first question; or what the menu
    already keeps (a /start at the offer itself). Returned as a frame: dialog, step,
    answers and history, copied.
    """
    for frame in (_frame(state), *reversed(state.stack)):
        if _has_progress(dialogs, frame):
            return _frame_json(frame)
        kept = (frame.get("answers") or {}).get(UNFINISHED)
        if isinstance(kept, dict):
            return _frame_json(kept)
    return None


def _has_progress(dialogs: Mapping[str, Dialog], frame: Mapping[str, Any]) -> bool:
    """A resumable dialog the person is past the first question of."""
    dialog = dialogs.get(str(frame.get("dialog")))
    step = str(frame.get("step"))
    if dialog is None or not dialog.resumable or not dialog.has_step(step):
        return False
    return bool(frame.get("history")) or step != dialog.steps[0].id


def _frame(state: Session) -> dict[str, Any]:
    return {
        "dialog": state.dialog,
        "step": state.step,
        "answers": state.answers,
        "history": state.history,
    }


def _frame_json(frame: Mapping[str, Any]) -> dict[str, Any]:
    """A dialog frame as kept in the menu's answers (copied: the frame lives on)."""
    return {
        "dialog": str(frame.get("dialog")),
        "step": str(frame.get("step")),
        "answers": dict(frame.get("answers") or {}),
        "history": list(frame.get("history") or []),
    }


__all__ = ["MENU", "Session", "copy_session", "unfinished"]
