"""Logging a month's visit (记录走访): a linked helper, one of their households, a few taps.

Entered from the menu (记录走访, shown only to a linked helper) or from a reminder's button
``visit:<household id>`` wherever the person is. Order: the household (from the helper's
own list: pages of :data:`PAGE`, search by name) → how (in person / by phone / could not
visit, with the reason) → the date (today by default) → income this month by source, or
"about the same as last month" → 两不愁三保障 and safe water (all fine, or which is not)
→ problems found (text; photos and voice notes may simply be sent, and become the
visit's) → new risks (serious
illness, disaster) → progress on each open measure of the ledger, with its deadline (the
ledger is the latest visit's list of measures, or the enrolment's; done ones are carried
over without asking).

The engine never reads the database: the household list and the household itself are
loaded by the effects ``visit_listed`` and ``visit_opened``, which the dialog awaits and
which check, like ``visit_logged`` at the end, that the household is the helper's own —
a typed number or a forged button can name no one else's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from bot.dialogs.common import YES_NO
from bot.flow import (
    Answers,
    Await,
    Choice,
    Context,
    Dialog,
    Effect,
    EndDialog,
    Entry,
    Goto,
    Kind,
    Step,
    Transition,
)
from intake.helpers.measures import MAX_MEASURES, is_complete
from intake.helpers.visits import CHECKS, INCOME_SOURCES

DIALOG_ID = "visit"
#: Households per page of the list (Telegram shows a button per row comfortably).
PAGE = 8
NOT_VISITED = "not_visited"
_INCOME_PROMPTS = {
    "wages": "visit.income.wages",
    "farm_business": "visit.income.farm_business",
    "property": "visit.income.property",
    "transfers": "visit.income.transfers",
}
_CHECK_PROMPTS = {
    "food": "visit.check.food",
    "clothing": "visit.check.clothing",
    "education": "visit.check.education",
    "medical": "visit.check.medical",
    "housing": "visit.check.housing",
    "water": "visit.check.water",
}


def listed(page: int = 0, query: str | None = None) -> Await:
    """Show a page of the helper's households (the effect checks who is asking)."""
    return Await((Effect("visit_listed", {"page": page, "query": query}),))


def opened(household: str) -> Await:
    """Open one household (the effect checks it is the helper's own)."""
    return Await((Effect("visit_opened", {"household": household}),))


def _entered(rest: str, _answers: Answers, _context: Context) -> Transition:
    return opened(rest) if rest.isdigit() else listed()


def _households(answers: Answers, _context: Context) -> tuple[Choice, ...]:
    rows = answers.get("households") or []
    shown = tuple(Choice(str(h), str(name), literal=True) for h, name in rows)
    page = int(answers.get("page") or 0)
    more: tuple[Choice, ...] = (Choice("prev", "visit.prev"),) if page > 0 else ()
    more += (Choice("next", "visit.next"),) if answers.get("more") else ()
    return (*shown, *more, Choice("search", "visit.search"))


def _page(answers: Answers, _context: Context) -> dict[str, Any]:
    return {"page": int(answers.get("page") or 0) + 1}


def _picked(value: Any, answers: Answers, _context: Context) -> Transition:
    page, query = int(answers.get("page") or 0), answers.get("query")
    if value == "next":
        return listed(page + 1, query)
    if value == "prev":
        return listed(max(page - 1, 0), query)
    if value == "search":
        return Goto("search")
    return opened(str(value))


def _by_name(text: str, _answers: Answers, _context: Context) -> Transition:
    """A name typed instead of pressing a button searches the helper's list."""
    return listed(0, text[:32])


def _searched(value: Any, _answers: Answers, _context: Context) -> Transition:
    return listed(0, str(value))


def _never(_answers: Answers, _context: Context) -> bool:
    return False


def _visited(answers: Answers, _context: Context) -> bool:
    return answers.get("mode") != NOT_VISITED


def _not_visited(answers: Answers, _context: Context) -> bool:
    return answers.get("mode") == NOT_VISITED


def _day_chosen(value: Any, answers: Answers, context: Context) -> Transition | None:
    today = context.now.date()
    if value == "earlier":
        return Goto("day")
    answers["visited_on"] = (today - timedelta(days=int(value))).isoformat()
    return None


def _day_typed(value: Any, answers: Answers, context: Context) -> Transition | None:
    today = context.now.date()
    day = min(int(value), today.day)
    answers["visited_on"] = date(today.year, today.month, day).isoformat()
    return None


def _asks_day(answers: Answers, _context: Context) -> bool:
    return answers.get("when") == "earlier" and _visited(answers, _context)


def _by_source(answers: Answers, context: Context) -> bool:
    return _visited(answers, context) and answers.get("income_same") is False


def _checks_not_all_fine(answers: Answers, context: Context) -> bool:
    return _visited(answers, context) and answers.get("checks_ok") is False


def _ledger(answers: Answers) -> list[dict[str, Any]]:
    entries = answers.get("ledger")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _open_measure(index: int) -> Callable[[Answers, Context], bool]:
    """Asked when the ledger's ``index``-th measure was open when the visit began."""

    def asked(answers: Answers, context: Context) -> bool:
        ledger = _ledger(answers)
        return _visited(answers, context) and index < len(ledger) and not is_complete(ledger[index])

    return asked


def _measure_params(index: int) -> Callable[[Answers, Context], dict[str, Any]]:
    def params(answers: Answers, _context: Context) -> dict[str, Any]:
        ledger = _ledger(answers)
        entry = ledger[index] if index < len(ledger) else {}
        return {"measures": entry.get("measure") or "", "deadline": entry.get("deadline") or "—"}

    return params


def _progress(index: int) -> Step:
    """Progress on the ledger's ``index``-th measure (one step each, so 返回 goes back one)."""
    return Step(
        f"progress_{index}",
        "visit.progress",
        choices=(
            Choice("done", "visit.progress.done"),
            Choice("on_track", "visit.progress.on_track"),
            Choice("behind", "visit.progress.behind"),
        ),
        prompt_params=_measure_params(index),
        when=_open_measure(index),
    )


def _visit_ledger(answers: Answers) -> list[dict[str, Any]]:
    """The ledger as this visit leaves it: each open measure with the progress given."""
    ledger = []
    for index, entry in enumerate(_ledger(answers)):
        progress = answers.get(f"progress_{index}")
        ledger.append({**entry, "progress": progress} if progress else dict(entry))
    return ledger


def _name(answers: Answers, _context: Context) -> dict[str, Any]:
    return {"name": answers.get("name", "")}


def _finish(answers: Answers, _context: Context) -> EndDialog:
    checks = tuple(f"check_{c}" for c in CHECKS)
    keys: tuple[str, ...] = (
        "household",
        "mode",
        "reason",
        "visited_on",
        "income_same",
        *INCOME_SOURCES,
    )
    keys += ("checks_ok", *checks, "problems", "risk", "opened_at")
    data = {k: answers.get(k) for k in keys}
    data["ledger"] = _visit_ledger(answers) if _visited(answers, _context) else []
    return EndDialog(effects=(Effect("visit_logged", data),))


def _yuan(source: str) -> Step:
    return Step(
        f"income_{source}", _INCOME_PROMPTS[source], kind=Kind.NUMBER, field=source,
        unit="unit.yuan", maximum=1_000_000, when=_by_source,
    )  # fmt: skip


def _check(check: str) -> Step:
    return Step(f"check_{check}", _CHECK_PROMPTS[check], choices=YES_NO,
                when=_checks_not_all_fine)  # fmt: skip


STEPS: tuple[Step, ...] = (
    Step(
        "visit",
        "visit.pick",
        choices_for=_households,
        prompt_params=_page,
        after=_picked,
        fallback=_by_name,
        help="visit.help.pick",
    ),
    Step(
        "search", "visit.search_prompt", kind=Kind.TEXT, max_length=32, when=_never, after=_searched
    ),
    Step(
        "mode",
        "visit.mode",
        choices=(
            Choice("in_person", "visit.mode.in_person"),
            Choice("phone", "visit.mode.phone"),
            Choice(NOT_VISITED, "visit.mode.not_visited"),
        ),
        prompt_params=_name,
    ),
    Step(
        "reason",
        "visit.reason",
        choices=(
            Choice("away_for_work", "visit.reason.away_for_work"),
            Choice("in_hospital", "visit.reason.in_hospital"),
            Choice("refused", "visit.reason.refused"),
            Choice("other", "visit.reason.other"),
        ),
        when=_not_visited,
    ),
    Step(
        "when",
        "visit.when",
        choices=(
            Choice("0", "visit.when.today"),
            Choice("1", "visit.when.yesterday"),
            Choice("earlier", "visit.when.earlier"),
        ),
        after=_day_chosen,
        when=_visited,
    ),
    Step(
        "day",
        "visit.day",
        kind=Kind.NUMBER,
        unit="unit.day",
        minimum=1,
        maximum=31,
        integer=True,
        after=_day_typed,
        when=_asks_day,
    ),
    Step(
        "income_same",
        "visit.income_same",
        choices=(
            Choice("same", "visit.income.same", store=True),
            Choice("by_source", "visit.income.by_source", store=False),
        ),
        when=_visited,
    ),
    *(_yuan(source) for source in INCOME_SOURCES),
    Step(
        "checks_ok",
        "visit.checks",
        choices=(
            Choice("fine", "visit.checks.ok", store=True),
            Choice("not_fine", "visit.checks.not_ok", store=False),
        ),
        when=_visited,
        help="visit.help.checks",
    ),
    *(_check(check) for check in CHECKS),
    Step(
        "problems", "visit.problems", kind=Kind.TEXT, max_length=500, skippable=True, when=_visited
    ),
    Step(
        "risk",
        "visit.risk",
        choices=(
            Choice("none", "visit.risk.none"),
            Choice("illness", "visit.risk.illness"),
            Choice("disaster", "visit.risk.disaster"),
            Choice("other", "visit.risk.other"),
        ),
        when=_visited,
        help="visit.help.risk",
    ),
    *(_progress(index) for index in range(MAX_MEASURES)),
)

DIALOG = Dialog(
    id=DIALOG_ID, steps=STEPS, finish=_finish, entry=Entry("visit:", "button", _entered)
)
