"""The monthly figures of reports (每月通报, seed 000 五(三)): by kind, route, outcome, and
time to answer, as rows for a page and as an XLSX.

The reports counted are those received in the month and visible to the scope asking
(:func:`~intake.reports.routing.visibility`), so a county sees its whole region and a
township never counts what was routed past it. Time to answer is counted in working days
from receipt (or from the objection that reopened it) to the answer. Every text cell of the
sheet is written as text, never a formula (:func:`intake.exports.text_cell`, OWASP).
"""

from __future__ import annotations

import io
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, col, select

from intake.exports import text_cell
from intake.reports.kinds import Level, ReportKind, ReportRules
from intake.reports.models import Report, ReportState
from intake.reports.procedure import next_due
from intake.reports.routing import visibility
from intake.users import Scope
from intake.workdays import WorkdayCalendar

__all__ = ["COLUMNS", "MonthlyFigures", "figures_rows", "figures_xlsx", "monthly_figures"]

COLUMNS = ("类别", "项目", "件数")
LEVEL_NAMES = {Level.VILLAGE: "村级办理", Level.TOWNSHIP: "乡镇办理", Level.COUNTY: "县级办理"}
STATE_NAMES = {
    ReportState.RECEIVED: "已受理待分派",
    ReportState.ACCEPTED: "已分派",
    ReportState.INVESTIGATING: "调查核实中",
    ReportState.ANSWERED: "已答复",
    ReportState.CLOSED: "已办结",
    ReportState.REFERRED: "非本级职责已转办",
    ReportState.UNFOUNDED: "经核查不属实",
    ReportState.MERGED: "已合并办理",
}


@dataclass(frozen=True)
class MonthlyFigures:
    """Counts for one month; ``working_days`` holds each answered report's time to answer."""

    year: int
    month: int
    total: int
    by_kind: dict[str, int]
    by_route: dict[str, int]
    by_outcome: dict[str, int]
    working_days: tuple[int, ...]
    answered_on_time: int
    open_overdue: int

    @property
    def median_working_days(self) -> float | None:
        """The median time to answer, in working days (``None`` when nothing was answered)."""
        return statistics.median(self.working_days) if self.working_days else None


def _month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following


def monthly_figures(
    session: Session,
    *,
    scope: Scope,
    year: int,
    month: int,
    calendar: WorkdayCalendar,
    today: date,
) -> MonthlyFigures:
    """Figures of the reports received in ``year``-``month`` that ``scope`` may see."""
    first, following = _month_bounds(year, month)
    query = select(Report).where(
        visibility(scope).sql,
        col(Report.received_on) >= first,
        col(Report.received_on) < following,
    )
    reports = list(session.exec(query))
    days: list[int] = []
    on_time = overdue = 0
    for report in reports:
        if report.answered_on is not None:
            days.append(calendar.working_days_between(report.clock_from, report.answered_on))
            on_time += report.answered_on <= report.answer_due
        elif (due := next_due(report)) is not None:
            overdue += due[1] < today
    return MonthlyFigures(
        year=year,
        month=month,
        total=len(reports),
        by_kind=dict(Counter(r.kind for r in reports)),
        by_route=dict(Counter(r.routed_level for r in reports)),
        by_outcome=dict(Counter(r.state for r in reports)),
        working_days=tuple(sorted(days)),
        answered_on_time=on_time,
        open_overdue=overdue,
    )


def figures_rows(figures: MonthlyFigures, rules: ReportRules) -> list[list[Any]]:
    """``[section, item, number]`` rows, every kind, level and state listed (zeros too)."""
    rows: list[list[Any]] = [["合计", "收到反映", figures.total]]
    for kind in ReportKind:
        rows.append(["按类型", rules.kind(kind).name, figures.by_kind.get(kind.value, 0)])
    for level in Level:
        rows.append(["按办理层级", LEVEL_NAMES[level], figures.by_route.get(level.value, 0)])
    for state in ReportState:
        rows.append(["按办理结果", STATE_NAMES[state], figures.by_outcome.get(state.value, 0)])
    median = figures.median_working_days
    rows += [
        ["答复时间", "已答复件数", len(figures.working_days)],
        ["答复时间", "按期答复件数", figures.answered_on_time],
        ["答复时间", "答复用时中位数（工作日）", "—" if median is None else median],
        ["答复时间", "逾期未答复件数", figures.open_overdue],
    ]
    return rows


def figures_xlsx(figures: MonthlyFigures, rules: ReportRules, unit: str) -> bytes:
    """The figures as a one-sheet workbook; text cells can never run as formulas."""
    book = Workbook()
    sheet = book.active
    sheet.title = "群众反映月报"
    title = f"{figures.year}年{figures.month}月群众反映办理情况"
    for values in ([title], [f"单位：{unit}"], list(COLUMNS), *figures_rows(figures, rules)):
        sheet.append([text_cell(v) for v in values])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A4"
    for letter, width in (("A", 14), ("B", 28), ("C", 10)):
        sheet.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
