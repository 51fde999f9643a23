"""What the applicant hears at each step of their household's review or exit.

:func:`review_body` gives :mod:`intake.notices` the text of a carried-out review or exit
step (village proposal, township check, county decision) in the applicant's language;
a return to the village is told by the notices' own ``notice.returned``.
"""

from __future__ import annotations

from datetime import datetime

from intake.procedure import Action, Done
from intake.workdays import SHANGHAI
from locales import translate

__all__ = ["OUTCOME_NAMES", "review_body"]

#: The applicant's (and the cadre's) name of each outcome.
OUTCOME_NAMES = {
    "risk_eliminated": "notice.outcome.risk_eliminated",
    "help_continues": "notice.outcome.help_continues",
    "exit": "notice.outcome.exit",
    "help_again": "notice.outcome.help_again",
}
_DECIDED = {
    "risk_eliminated": "notice.review_eliminated",
    "help_continues": "notice.review_continues",
    "exit": "notice.exit_done",
    "help_again": "notice.help_again",
}


def _day(moment: datetime | None, locale: str) -> str:
    if moment is None:
        return ""
    day = moment.astimezone(SHANGHAI).date()
    return (
        f"{day.day} {day.strftime('%b')} {day.year}"
        if locale == "en"
        else (f"{day.year}年{day.month}月{day.day}日")
    )


def review_body(done: Done, locale: str) -> str | None:
    """The message for a review or exit step, or None if ``done`` is not one."""
    action = done.transition.action
    outcome = str(done.facts.get("outcome", ""))
    if outcome not in OUTCOME_NAMES:
        return None
    name = translate(locale, OUTCOME_NAMES[outcome])
    when = _day(done.item.due_at, locale)
    if action is Action.PROPOSE_OUTCOME:
        return translate(locale, "notice.review_proposed", outcome=name, date=when)
    if action is Action.CHECK_OUTCOME:
        return translate(locale, "notice.review_checked", outcome=name, date=when)
    if action is Action.CONFIRM_OUTCOME:
        return translate(locale, _DECIDED[outcome])
    return None
