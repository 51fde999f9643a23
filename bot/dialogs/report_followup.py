"""After a report's status is shown: read the answer with the ID number's last 4, or object.

Opened from the menu's offer (:data:`bot.dialogs.menu.REPORT_OFFER`) that a lookup left.
For an anonymous report the menu keeps no code, so the code is asked first: the chat's
session never holds a link to an anonymous report between messages. The objection is
the reporter's one objection within the policy's days (``intake.reports.procedure
.object_to``); the handler checks again that this asker may make it.
"""

from __future__ import annotations

from typing import Any

from bot.dialogs.report import MAX_TEXT
from bot.flow import Answers, Context, Dialog, Effect, EndDialog, Kind, Step

MAX_OBJECTION = MAX_TEXT


def _mode(mode: str) -> Any:
    def when(answers: Answers, _context: Context) -> bool:
        return answers.get("mode") == mode

    return when


def _needs_code(answers: Answers, _context: Context) -> bool:
    return not answers.get("code")


def _finish(answers: Answers, _context: Context) -> EndDialog:
    code = answers["code"]
    if answers.get("mode") == "verify":
        checked = {"code": code, "id_ending": answers["id_ending"]}
        return EndDialog(effects=(Effect("status_requested", checked),))
    objected = {
        "code": code,
        "reason": answers["objection"],
        "id_ending": answers.get("id_ending"),
        "started_at": answers.get("started_at"),
    }
    return EndDialog(effects=(Effect("report_objected", objected),))


DIALOG = Dialog(
    id="report_followup",
    steps=(
        Step(
            "code",
            "status.ask_code",
            kind=Kind.TRACKING_CODE,
            when=_needs_code,
            help="help.status_code",
        ),
        Step(
            "id_ending",
            "report.followup.id_ending",
            kind=Kind.TEXT,
            min_length=4,
            max_length=4,
            when=_mode("verify"),
            help="help.report_id_ending",
        ),
        Step(
            "objection",
            "report.followup.objection",
            kind=Kind.TEXT,
            min_length=2,
            max_length=MAX_OBJECTION,
            when=_mode("object"),
            help="help.report_objection",
        ),
    ),
    finish=_finish,
)
