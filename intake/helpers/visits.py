"""Household-months and the escalation ladder (helper → village → township).

Each month, each household with a current helper is **due** a visit, and ends the month
**done** (in person), **done by phone**, **not done** with a reason (away for work, in
hospital, refused: a valid record), or **overdue** (no record by month end). A household in
its follow-up year (category :data:`FOLLOWUP`) is due only every
``followup_visit_months`` months, counted from its last visit.

An overdue household-month climbs the ladder: from the first day after month end it is in
the village cadres' digest; still open after the first ``township_escalation_working_days``
working days after month end (official holidays counted out by :mod:`intake.workdays`), it
is in the township's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from intake.crypto import FieldCipher
from intake.helpers.models import Helper, HelperAssignment, NotVisitedReason, Visit, VisitMode
from intake.helpers.policy import HelpersPolicy
from intake.households import Household
from intake.workdays import WorkdayCalendar

__all__ = [
    "CHECKS",
    "FOLLOWUP",
    "INCOME_SOURCES",
    "Level",
    "MonthState",
    "Overdue",
    "VisitError",
    "escalation_level",
    "household_states",
    "month_bounds",
    "month_state",
    "months_between",
    "overdue_households",
    "period_of",
    "record_visit",
    "shift_period",
    "township_escalation_day",
    "visit_due",
]

#: Household category of the follow-up year after risk is eliminated (000 五(三)).
FOLLOWUP = "followup"
INCOME_SOURCES = ("wages", "farm_business", "property", "transfers")
#: 两不愁 (food, clothing), 三保障 (education, medical, housing) and safe drinking water.
CHECKS = ("food", "clothing", "education", "medical", "housing", "water")


class MonthState(StrEnum):
    """One household's month, as the helpers page and the digests show it."""

    NOT_DUE = "not_due"
    DUE = "due"
    DONE = "done"
    DONE_BY_PHONE = "done_by_phone"
    NOT_DONE = "not_done"
    OVERDUE = "overdue"


#: Settled states: a reminder or a digest no longer lists the household.
SETTLED = frozenset({MonthState.DONE, MonthState.DONE_BY_PHONE, MonthState.NOT_DONE})


class Level(StrEnum):
    """Who hears of an overdue household-month."""

    VILLAGE = "village"
    TOWNSHIP = "township"


class VisitError(ValueError):
    """A visit record that cannot be kept; the message is bilingual, Chinese first."""


def period_of(day: date) -> str:
    """``YYYY-MM`` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def _parse(period: str) -> tuple[int, int]:
    year, month = period.split("-")
    return int(year), int(month)


def shift_period(period: str, months: int) -> str:
    """The period ``months`` later (or earlier, if negative)."""
    year, month = _parse(period)
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(earlier: str, later: str) -> int:
    """How many months ``later`` is after ``earlier``."""
    (y1, m1), (y2, m2) = _parse(earlier), _parse(later)
    return (y2 * 12 + m2) - (y1 * 12 + m1)


def month_bounds(period: str) -> tuple[date, date]:
    """The first and last calendar day of the period."""
    year, month = _parse(period)
    first = date(year, month, 1)
    return first, date.fromisoformat(shift_period(period, 1) + "-01") - timedelta(days=1)


def visit_due(period: str, last_visit_period: str | None, every_months: int) -> bool:
    """Whether a household visited every ``every_months`` months is due in ``period``."""
    return last_visit_period is None or months_between(last_visit_period, period) >= every_months


def month_state(modes: list[str], period: str, today: date) -> MonthState:
    """The state of a due household-month from its visit records' modes."""
    if VisitMode.IN_PERSON in modes:
        return MonthState.DONE
    if VisitMode.PHONE in modes:
        return MonthState.DONE_BY_PHONE
    if VisitMode.NOT_VISITED in modes:
        return MonthState.NOT_DONE
    return MonthState.OVERDUE if today > month_bounds(period)[1] else MonthState.DUE


def township_escalation_day(period: str, calendar: WorkdayCalendar, policy: HelpersPolicy) -> date:
    """The day an overdue household-month of ``period`` reaches the township: the village
    has the first ``township_escalation_working_days`` working days after month end."""
    end = month_bounds(period)[1]
    return calendar.add_working_days(end, policy.township_escalation_working_days + 1)


def escalation_level(
    period: str, today: date, calendar: WorkdayCalendar, policy: HelpersPolicy
) -> Level | None:
    """Who should hear of an overdue household-month of ``period`` on ``today``."""
    if today <= month_bounds(period)[1]:
        return None
    if today >= township_escalation_day(period, calendar, policy):
        return Level.TOWNSHIP
    return Level.VILLAGE


def _last_visits(session: Session, ids: list[int], before: str) -> dict[int, str]:
    query = (
        select(Visit.household_id, func.max(Visit.period))
        .where(col(Visit.household_id).in_(ids), col(Visit.period) < before)
        .where(col(Visit.mode) != VisitMode.NOT_VISITED)
        .group_by(col(Visit.household_id))
    )
    return {int(h): str(p) for h, p in session.exec(query)}


def household_states(
    session: Session, household_ids: list[int], period: str, today: date, followup_months: int
) -> dict[int, MonthState]:
    """The month's state of each household (follow-up households may be not due)."""
    states: dict[int, MonthState] = {}
    for start in range(0, len(household_ids), 500):
        ids = household_ids[start : start + 500]
        modes: dict[int, list[str]] = {i: [] for i in ids}
        found = select(Visit.household_id, Visit.mode).where(
            col(Visit.household_id).in_(ids), Visit.period == period
        )
        for household_id, mode in session.exec(found):
            modes[int(household_id)].append(str(mode))
        query = select(Household.id).where(
            col(Household.id).in_(ids), Household.category == FOLLOWUP
        )
        followers = {int(f) for f in session.exec(query) if f is not None}
        last = _last_visits(session, sorted(followers), period) if followers else {}
        for household_id in ids:
            resting = (
                household_id in followers
                and not modes[household_id]
                and not visit_due(period, last.get(household_id), followup_months)
            )
            states[household_id] = (
                MonthState.NOT_DUE if resting else month_state(modes[household_id], period, today)
            )
    return states


@dataclass(frozen=True)
class Overdue:
    """One overdue household-month, as a digest lists it (no ID number, no phone)."""

    household_id: int
    head_name: str
    village_code: str
    helper_name: str


def overdue_households(
    session: Session, period: str, today: date, followup_months: int, villages: set[str],
    chunk: int = 2000,
) -> list[Overdue]:  # fmt: skip
    """Overdue household-months of ``period`` in ``villages``, by village and name.

    Read in pages of columns by household id (a region has a hundred thousand households:
    ORM objects for all of them were most of the sweep's memory, and a server-side cursor
    made PostgreSQL plan the query for the first rows); only the overdue ones are kept.
    """
    query = (
        sa_select(Household.id, Household.head_name, Household.village_code, Helper.name)  # type: ignore[call-overload]
        .join(HelperAssignment, col(HelperAssignment.household_id) == Household.id)
        .join(Helper, col(Helper.id) == HelperAssignment.helper_id)
        .where(col(HelperAssignment.ended_at).is_(None), col(Household.village_code).in_(villages))
        .order_by(col(Household.id))
        .limit(chunk)
    )
    late: list[Overdue] = []
    after = 0
    while True:
        part = session.execute(query.where(col(Household.id) > after)).all()
        if not part:
            break
        after = int(part[-1][0])
        states = household_states(session, [int(r[0]) for r in part], period, today,
                                  followup_months)  # fmt: skip
        late.extend(
            Overdue(int(h), str(name), str(village), str(helper))
            for h, name, village, helper in part
            if states[int(h)] is MonthState.OVERDUE
        )
    late.sort(key=lambda o: (o.village_code, o.head_name, o.household_id))
    return late


def _checked_income(income: dict[str, Any]) -> dict[str, Any]:
    if income.get("about_the_same") is True and len(income) == 1:
        return {"about_the_same": True}
    unknown = set(income) - set(INCOME_SOURCES)
    amounts = [income.get(s, 0) for s in INCOME_SOURCES]
    if unknown or not all(isinstance(a, int | float) and 0 <= a <= 10_000_000 for a in amounts):
        raise VisitError("收入填写有误，请按来源填写金额 / income must be amounts by source")
    return {s: income.get(s, 0) for s in INCOME_SOURCES}


def record_visit(
    session: Session, cipher: FieldCipher, *, household_id: int, helper_id: int | None,
    period: str, visited_on: date, mode: VisitMode, reason: NotVisitedReason | None = None,
    income: dict[str, Any] | None = None, checks: dict[str, bool] | None = None,
    problems: str | None = None, measures: list[dict[str, Any]] | None = None,
    actor: str, now: datetime,
) -> Visit:  # fmt: skip
    """Keep one visit record; "could not visit" needs a reason and carries no findings."""
    if period_of(visited_on) > period:
        raise VisitError("走访日期晚于所记月份 / the visit date is after the month it counts for")
    if (mode is VisitMode.NOT_VISITED) != (reason is not None):
        raise VisitError("未能走访时请选择原因 / a reason goes with, and only with, no visit")
    if checks and set(checks) - set(CHECKS):
        raise VisitError("核查项目不明 / unknown check")
    visit = Visit(
        household_id=household_id,
        helper_id=helper_id,
        period=period,
        visited_on=visited_on,
        mode=mode.value,
        not_visited_reason=reason.value if reason else None,
        income=_checked_income(income) if income else {},
        checks=dict(checks or {}),
        problems_cipher=cipher.seal(problems),
        measures=list(measures or []),
        recorded_by=actor[:64],
        recorded_at=now,
    )
    session.add(visit)
    return visit


# --- the helper's own list (the visit log in the chat) -----------------------------------


def _own(helper_id: int) -> Any:
    return (
        select(Household.id, Household.head_name)
        .join(HelperAssignment, col(HelperAssignment.household_id) == Household.id)
        .where(HelperAssignment.helper_id == helper_id, col(HelperAssignment.ended_at).is_(None))
    )


def households_page(
    session: Session, helper_id: int, *, page: int, size: int, query: str | None = None
) -> tuple[list[tuple[int, str]], bool]:
    """A page of the helper's current households ``(id, head's name)`` by name, and whether
    more follow; ``query`` keeps the names containing it. Only their own, by construction."""
    statement = _own(helper_id)
    if query:
        statement = statement.where(col(Household.head_name).contains(query.strip()))
    statement = statement.order_by(col(Household.head_name), col(Household.id))
    rows = session.exec(statement.offset(max(page, 0) * size).limit(size + 1)).all()
    return [(int(h), str(n)) for h, n in rows[:size]], len(rows) > size


def own_household(session: Session, helper_id: int, household_id: int) -> Household | None:
    """The household if the helper helps it now, else ``None`` (whoever else's it is)."""
    query = (
        select(Household)
        .join(HelperAssignment, col(HelperAssignment.household_id) == Household.id)
        .where(
            Household.id == household_id,
            HelperAssignment.helper_id == helper_id,
            col(HelperAssignment.ended_at).is_(None),
        )
    )
    return session.exec(query).first()


def income_total(income: dict[str, Any]) -> float | None:
    """The month's income summed over the sources, or ``None`` ("about the same")."""
    if not income or income.get("about_the_same"):
        return None
    return float(sum(float(income.get(s, 0) or 0) for s in INCOME_SOURCES))


def last_income_total(session: Session, household_id: int, before: str) -> float | None:
    """The latest income given by source before ``before`` (a period), for the drop check."""
    query = (
        select(Visit.income)
        .where(Visit.household_id == household_id, col(Visit.period) < before)
        .order_by(col(Visit.period).desc(), col(Visit.id).desc())
        .limit(12)
    )
    for income in session.exec(query):
        total = income_total(dict(income or {}))
        if total is not None:
            return total
    return None
