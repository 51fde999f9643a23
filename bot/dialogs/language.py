"""Choose the language of the conversation (中文 / English)."""

from __future__ import annotations

from typing import Any

from bot.flow import Answers, Choice, Context, Dialog, Effect, EndDialog, Step, Text


def _after(value: Any, _answers: Answers, _context: Context) -> EndDialog:
    changed = Effect("language_changed", {"language": value})
    return EndDialog(effects=(changed,), message=Text("language.changed"), language=str(value))


DIALOG = Dialog(
    id="language",
    steps=(
        Step(
            "lang",
            "language.prompt",
            choices=(Choice("zh_CN", "language.zh_CN"), Choice("en", "language.en")),
            after=_after,
        ),
    ),
    finish=lambda _answers, _context: EndDialog(),
)
