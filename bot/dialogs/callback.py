"""Ask a cadre to call back (人工): a phone number and an optional note."""

from __future__ import annotations

from bot.flow import Answers, Context, Dialog, Effect, EndDialog, Kind, Step, Text


def _finish(answers: Answers, _context: Context) -> EndDialog:
    request = Effect("callback_requested", {"phone": answers["phone"], "note": answers.get("note")})
    return EndDialog(effects=(request,), message=Text("callback.done"))


DIALOG = Dialog(
    id="callback",
    steps=(
        Step("phone", "callback.phone", kind=Kind.PHONE, help="help.phone"),
        Step("note", "callback.note", kind=Kind.TEXT, skippable=True, max_length=500),
    ),
    finish=_finish,
)
