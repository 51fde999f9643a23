"""What the helpers page shows: each helper's households, link, month and compliance.

For the villages a cadre may see (:meth:`intake.users.Scope.villages`), per helper:

- the households they help now (only those in the cadre's villages);
- whether their chat is linked (only a linked helper gets reminders);
- this month: visits done (in person, by phone, or a recorded "could not visit") and
  still due; last month: overdue (no record at all by month end);
- compliance over the six months before this one: of the household-months that were
  due while the helper held the household, the share with a record.

A household's month is credited to the helper who held it at the month's end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, or_, select

from intake.helpers.models import Helper, HelperAssignment
from intake.helpers.visits import (
    SETTLED,
    MonthState,
    household_states,
    month_bounds,
    period_of,
    shift_period,
)
from intake.households import Household
from intake.workdays import SHANGHAI

__all__ = ["COMPLIANCE_MONTHS", "Held", "HelperRow", "held_households", "helper_rows"]

COMPLIANCE_MONTHS = 6


@dataclass(frozen=True)
class Held:
    """One current assignment of a household in the cadre's villages."""

    household: Household
    helper_id: int
    started: date


@dataclass
class HelperRow:
    """One line of the helpers page."""

    helper: Helper
    households: int = 0
    done: int = 0
    due: int = 0
    overdue_last_month: int = 0
    #: Household-months due in the last six months, and those with a record.
    months_due: int = 0
    months_kept: int = 0
    household_ids: list[int] = field(default_factory=list)

    @property
    def linked(self) -> bool:
        """Whether the helper's chat is linked (reminders reach them)."""
        return self.helper.chat_channel is not None

    @property
    def compliance(self) -> int | None:
        """Percent of the due household-months with a record (None if none were due)."""
        if not self.months_due:
            return None
        return round(100 * self.months_kept / self.months_due)


def held_households(session: Session, villages: set[str]) -> list[Held]:
    """Current assignments of the households in ``villages``, by village and name."""
    query = (
        select(Household, HelperAssignment)
        .join(HelperAssignment, col(HelperAssignment.household_id) == Household.id)
        .where(col(HelperAssignment.ended_at).is_(None), col(Household.village_code).in_(villages))
        .order_by(col(Household.village_code), col(Household.head_name), col(Household.id))
    )
    return [
        Held(h, a.helper_id, a.started_at.astimezone(SHANGHAI).date())
        for h, a in session.exec(query)
    ]


def _scope_helpers(
    session: Session, villages: set[str], townships: set[str], ids: set[int]
) -> list[Helper]:
    """Helpers holding households here, or placed in these villages (or townships)."""
    conditions = [col(Helper.id).in_(ids), col(Helper.village_code).in_(villages)]
    if townships:
        conditions.append(col(Helper.township_code).in_(townships))
    query = select(Helper).where(or_(*conditions)).order_by(col(Helper.name), col(Helper.id))
    return list(session.exec(query))


def helper_rows(
    session: Session,
    *,
    villages: set[str],
    townships: set[str],
    now: datetime,
    followup_months: int,
) -> list[HelperRow]:
    """The helpers page's rows. ``townships`` lists townships whose township-wide helpers
    are shown even without households (empty for a village cadre)."""
    today = now.astimezone(SHANGHAI).date()
    period = period_of(today)
    held = held_households(session, villages)
    rows = {
        int(h.id or 0): HelperRow(h)
        for h in _scope_helpers(session, villages, townships, {x.helper_id for x in held})
    }
    by_helper: dict[int, list[Held]] = defaultdict(list)
    for one in held:
        by_helper[one.helper_id].append(one)
        row = rows[one.helper_id]
        row.households += 1
        row.household_ids.append(int(one.household.id or 0))
    ids = [int(x.household.id or 0) for x in held]
    this_month = household_states(session, ids, period, today, followup_months)
    last = shift_period(period, -1)
    last_month = household_states(session, ids, last, today, followup_months)
    for one in held:
        household_id, row = int(one.household.id or 0), rows[one.helper_id]
        state = this_month[household_id]
        row.done += state in SETTLED
        row.due += state is MonthState.DUE
        row.overdue_last_month += last_month[household_id] is MonthState.OVERDUE
    _compliance(session, held, rows, period, today, followup_months)
    return sorted(rows.values(), key=lambda r: (r.helper.name, r.helper.id or 0))


def _compliance(
    session: Session,
    held: list[Held],
    rows: dict[int, HelperRow],
    period: str,
    today: date,
    followup_months: int,
) -> None:
    ids = [int(x.household.id or 0) for x in held]
    for back in range(1, COMPLIANCE_MONTHS + 1):
        month = shift_period(period, -back)
        end = month_bounds(month)[1]
        states = household_states(session, ids, month, today, followup_months)
        for one in held:
            if one.started > end:
                continue  # not this helper's household yet
            state = states[int(one.household.id or 0)]
            if state is MonthState.NOT_DUE:
                continue
            row = rows[one.helper_id]
            row.months_due += 1
            row.months_kept += state in SETTLED
