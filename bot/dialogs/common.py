"""Pieces several dialogs share: yes/no choices and small predicates."""

from __future__ import annotations

from bot.flow import Answers, Choice, Context, When

YES = Choice("yes", "common.yes", store=True, intent="yes")
NO = Choice("no", "common.no", store=False, intent="no")
UNKNOWN = Choice("unknown", "common.unknown", store="unknown", intent="unsure")
YES_NO = (YES, NO)
YES_NO_UNKNOWN = (YES, NO, UNKNOWN)


def answered_yes(key: str) -> When:
    """A ``when`` that asks a follow-up only after a "yes"."""

    def when(answers: Answers, _context: Context) -> bool:
        return answers.get(key) is True

    return when
