"""The queue page's data: the scoped, filtered, deadline-sorted items and counts per status.

Sort order: fast-track items first, then by deadline (soonest first, items without a
deadline last), then oldest first. "Due soon" means due by the end of the next working day.

"Overdue" means a step's own time limit has passed. A public notice's end is not one: it
is when the notice has run its days, and the township then ends it; such an item reads
"公示期满，待乡镇处理" (:func:`notice_ended`), never "已超期".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import Session, col, select

from intake.applications import Application
from intake.procedure import estimated_deadline_year
from intake.queue import CLOSED_STATUSES, ItemKind, ItemStatus, QueueItem
from intake.reports.models import FINAL_STATES, Report
from intake.reports.routing import visibility
from intake.users import Scope
from intake.workdays import WorkdayCalendar

PAGE_SIZE = 50
OPEN = "pending"  # every status not closed (not the call-back status "open")
ALL = "all"
_CLOSED = [s.value for s in CLOSED_STATUSES]
_STATUSES = {s.value for s in ItemStatus}
_KINDS = {k.value for k in ItemKind}


@dataclass(frozen=True)
class Filters:
    """What the cadre asked to see; unknown values are dropped, never trusted."""

    kind: str | None = None
    status: str = OPEN
    village: str | None = None
    risk: str | None = None
    overdue: bool = False
    fast: bool = False
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str], villages: set[str]) -> Filters:
        """Filters from query parameters; a village outside ``villages`` is ignored."""
        status = params.get("status") or OPEN
        risk = (params.get("risk") or "").strip()
        try:
            page = max(1, min(10_000, int(params.get("page") or 1)))
        except ValueError:
            page = 1
        return cls(
            kind=params.get("kind") if params.get("kind") in _KINDS else None,
            status=status if status in _STATUSES or status in (OPEN, ALL) else OPEN,
            village=params.get("village") if params.get("village") in villages else None,
            risk=risk if risk.isdigit() and len(risk) == 2 else None,
            overdue=params.get("overdue") in ("1", "on", "true"),
            fast=params.get("fast") in ("1", "on", "true"),
            page=page,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (for links), with ``changes`` applied."""
        values = {
            "kind": self.kind or "",
            "status": self.status,
            "village": self.village or "",
            "risk": self.risk or "",
            "overdue": "1" if self.overdue else "",
            "fast": "1" if self.fast else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class Row:
    """One line of the queue."""

    item: QueueItem
    head_name: str | None
    overdue: bool
    due_soon: bool
    #: A public notice that has run its days, waiting for the township to end it.
    notice_ended: bool = False
    #: The year whose holidays the deadline was counted without (an estimate), if any.
    estimated_year: int | None = None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue plus the per-status counts of the scope (and village)."""

    rows: list[Row]
    counts: dict[str, int]
    has_more: bool
    filters: Filters
    #: Reports from the public still open that the scope may see (they have their own list).
    reports_open: int = 0


def _conditions(scope: Scope, filters: Filters, now: datetime) -> list[ColumnElement[bool]]:
    """Every condition of the list except the status one."""
    conditions = [scope.where()]
    if filters.kind:
        conditions.append(col(QueueItem.kind) == filters.kind)
    if filters.village:
        conditions.append(col(QueueItem.village_code) == filters.village)
    if filters.risk:
        conditions.append(col(QueueItem.risk_codes).contains(f",{filters.risk},"))
    if filters.fast:
        conditions.append(col(QueueItem.fast_track).is_(True))
    if filters.overdue:
        conditions.append(
            and_(
                col(QueueItem.due_at).is_not(None),
                col(QueueItem.due_at) < now,
                col(QueueItem.status) != ItemStatus.PUBLIC_NOTICE.value,
            )
        )
    return conditions


def _count_conditions(scope: Scope, filters: Filters) -> list[ColumnElement[bool]]:
    """The counts' conditions: the scope and the chosen village (index-only counts)."""
    conditions = [scope.where()]
    if filters.village:
        conditions.append(col(QueueItem.village_code) == filters.village)
    return conditions


def _status_condition(status: str) -> ColumnElement[bool] | None:
    if status == ALL:
        return None
    if status == OPEN:
        return col(QueueItem.status).not_in(_CLOSED)
    return col(QueueItem.status) == status


def status_counts(session: Session, conditions: list[ColumnElement[bool]]) -> dict[str, int]:
    """How many items of each status match ``conditions``."""
    query = (
        select(QueueItem.status, func.count()).where(*conditions).group_by(col(QueueItem.status))
    )
    return {status: int(count) for status, count in session.exec(query)}


def queue_page(
    session: Session,
    scope: Scope,
    filters: Filters,
    *,
    now: datetime,
    calendar: WorkdayCalendar,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """The page of the queue the filters ask for."""
    conditions = _conditions(scope, filters, now)
    status = _status_condition(filters.status)
    query = (
        select(QueueItem, Application.head_name)
        .outerjoin(Application, col(Application.queue_item_id) == col(QueueItem.id))
        .where(*conditions, *([status] if status is not None else []))
        .order_by(col(QueueItem.sort_rank), col(QueueItem.due_at), col(QueueItem.id))
        .offset((filters.page - 1) * page_size)
        .limit(page_size + 1)
    )
    found = list(session.exec(query))
    soon = calendar.end_of_working_day(now, 1)
    rows = [
        Row(
            item,
            head_name,
            overdue=is_overdue(item, now),
            due_soon=_limited(item) and item.due_at is not None and now <= item.due_at <= soon,
            notice_ended=notice_ended(item, now),
            estimated_year=estimated_deadline_year(item, calendar),
        )
        for item, head_name in found[:page_size]
    ]
    counts = status_counts(session, _count_conditions(scope, filters))
    return QueuePage(rows, counts, len(found) > page_size, filters, open_reports(session, scope))


def open_reports(session: Session, scope: Scope) -> int:
    """How many unfinished reports ``scope`` may see (:func:`visibility`, as everywhere)."""
    finished = [s.value for s in FINAL_STATES]
    query = select(func.count()).where(visibility(scope).sql, col(Report.state).not_in(finished))
    return int(session.exec(query).one())


def _limited(item: QueueItem) -> bool:
    """Whether the item's ``due_at`` is a time limit on someone (open, not on notice)."""
    return item.status not in _CLOSED and item.status != ItemStatus.PUBLIC_NOTICE


def is_overdue(item: QueueItem, now: datetime) -> bool:
    """Whether the item's current step has passed its own time limit."""
    return _limited(item) and item.due_at is not None and item.due_at < now


def notice_ended(item: QueueItem, now: datetime) -> bool:
    """Whether the item's public notice has run its days (the township ends it next)."""
    return item.status == ItemStatus.PUBLIC_NOTICE and item.due_at is not None and item.due_at < now
