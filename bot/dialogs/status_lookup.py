"""Status lookup (查询进度): type the tracking code, hear where the matter stands."""

from __future__ import annotations

from typing import Any

from bot.flow import Answers, Context, Dialog, Effect, EndDialog, Kind, Step


def _after(value: Any, _answers: Answers, _context: Context) -> EndDialog:
    return EndDialog(effects=(Effect("status_requested", {"code": value}),))


DIALOG = Dialog(
    id="status",
    steps=(
        Step(
            "code",
            "status.ask_code",
            kind=Kind.TRACKING_CODE,
            after=_after,
            help="help.status_code",
        ),
    ),
    finish=lambda _answers, _context: EndDialog(),
)
