"""The reports queue's data: the reports a scope may see, filtered, deadline first.

Every list and count here is filtered by :func:`~intake.reports.routing.visibility`, the
one scope rule of reports, in the database. A list of one state (or of the open ones, the
default) is in deadline order, soonest answer first (a report not yet accepted is due for
its first response earlier, which its row shows); the list of every state is latest
deadline first, so the newest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import Session, col, select

from intake.reports.kinds import ReportKind
from intake.reports.models import FINAL_STATES, Report, ReportState
from intake.reports.procedure import next_due
from intake.reports.routing import visibility
from intake.users import Scope

__all__ = ["OPEN", "ReportFilters", "ReportPage", "ReportRow", "report_page"]

PAGE_SIZE = 50
OPEN = "open"
ALL = "all"
_STATES = {s.value for s in ReportState}
_KINDS = {k.value for k in ReportKind}
#: Not finished: still work for someone (an answered report waits to be closed).
_OPEN_STATES = [s.value for s in ReportState if s not in FINAL_STATES]
#: With a deadline running (first response or answer).
_RUNNING = [s.value for s in ReportState if s not in FINAL_STATES and s is not ReportState.ANSWERED]
_TRUE = ("1", "on", "true")


@dataclass(frozen=True)
class ReportFilters:
    """What the cadre asked to see; unknown values are dropped, never trusted."""

    kind: str | None = None
    state: str = OPEN
    village: str | None = None
    overdue: bool = False
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str], villages: set[str]) -> ReportFilters:
        """Filters from query parameters; a village outside ``villages`` is ignored."""
        state = params.get("state") or OPEN
        try:
            page = max(1, min(10_000, int(params.get("page") or 1)))
        except ValueError:
            page = 1
        return cls(
            kind=params.get("kind") if params.get("kind") in _KINDS else None,
            state=state if state in _STATES or state in (OPEN, ALL) else OPEN,
            village=params.get("village") if params.get("village") in villages else None,
            overdue=params.get("overdue") in _TRUE,
            page=page,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (for links), with ``changes`` applied."""
        values = {
            "kind": self.kind or "",
            "state": self.state,
            "village": self.village or "",
            "overdue": "1" if self.overdue else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class ReportRow:
    """One line of the reports queue."""

    report: Report
    #: ``("first_response" | "answer", day)`` while the report is open.
    due: tuple[str, date] | None
    overdue: bool


@dataclass(frozen=True)
class ReportPage:
    """One page of reports plus the per-state counts of the scope (and village)."""

    rows: list[ReportRow]
    counts: dict[str, int]
    has_more: bool
    filters: ReportFilters


def overdue_condition(today: date) -> ColumnElement[bool]:
    """Open reports whose next deadline (first response, then answer) is before ``today``."""
    return and_(
        col(Report.state).in_(_RUNNING),
        or_(
            and_(col(Report.first_response_on).is_(None), col(Report.first_response_due) < today),
            and_(col(Report.first_response_on).is_not(None), col(Report.answer_due) < today),
        ),
    )


def _conditions(scope: Scope, filters: ReportFilters, today: date) -> list[ColumnElement[bool]]:
    conditions = [visibility(scope).sql]
    if filters.kind:
        conditions.append(col(Report.kind) == filters.kind)
    if filters.village:
        conditions.append(col(Report.village_code) == filters.village)
    if filters.overdue:
        conditions.append(overdue_condition(today))
    if filters.state == OPEN:
        conditions.append(col(Report.state).in_(_OPEN_STATES))
    elif filters.state != ALL:
        conditions.append(col(Report.state) == filters.state)
    return conditions


def state_counts(session: Session, scope: Scope, village: str | None) -> dict[str, int]:
    """How many reports of each state ``scope`` may see (in ``village`` if given)."""
    conditions = [visibility(scope).sql]
    if village:
        conditions.append(col(Report.village_code) == village)
    query = select(Report.state, func.count()).where(*conditions).group_by(col(Report.state))
    return {state: int(count) for state, count in session.exec(query)}


def report_page(
    session: Session,
    scope: Scope,
    filters: ReportFilters,
    *,
    today: date,
    page_size: int = PAGE_SIZE,
) -> ReportPage:
    """The page of the reports queue the filters ask for."""
    # Deadline order, served by an index per scope (migration 0009); everything at once is
    # shown latest deadline first (the newest), the same index read backwards.
    order: list[Any] = [col(Report.answer_due), col(Report.id)]
    if filters.state == ALL:
        order = [col(Report.answer_due).desc(), col(Report.id).desc()]
    query = (
        select(Report)
        .where(*_conditions(scope, filters, today))
        .order_by(*order)
        .offset((filters.page - 1) * page_size)
        .limit(page_size + 1)
    )
    found = list(session.exec(query))
    rows = []
    for report in found[:page_size]:
        due = next_due(report)
        rows.append(ReportRow(report, due, due is not None and due[1] < today))
    counts = state_counts(session, scope, filters.village)
    return ReportPage(rows, counts, len(found) > page_size, filters)
