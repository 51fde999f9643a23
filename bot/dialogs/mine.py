"""我的申请: the person's own applications and where each stands, without a code.

The chat that filed an application sees it here; the tracking code is for other chats,
the phone and the operator. No question is asked: the lookup is an effect (the engine
never reads the database), and the person is back where they were.
"""

from __future__ import annotations

from bot.flow import Answers, Context, Dialog, Effect, EndDialog


def _finish(_answers: Answers, _context: Context) -> EndDialog:
    return EndDialog(effects=(Effect("applications_listed"),))


DIALOG = Dialog(id="mine", steps=(), finish=_finish)
