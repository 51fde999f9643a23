"""Where a report goes, and who may ever see it: routing past the people it concerns.

Two rules live here and nowhere else.

:func:`route` decides the level: each kind's routes come from the policy file (already
checked to go above the level concerned, see :mod:`intake.reports.kinds`); a tip about a
household goes to the township instead when the reporter asks that the village not be
told; and an objection lifts a report one level up (:func:`level_above`).

:func:`visibility` is **the** scope rule of reports: it takes a user's
:class:`~intake.users.Scope` and gives one :class:`Visibility`, usable as a SQL condition
(``select(Report).where(visibility(scope).sql)``) and as a check of one loaded report
(``visibility(scope)(report)``). Both come from the same clauses, so a page, a count, a
search, a digest and an export that use it cannot disagree. A village cadre sees only
reports routed to the village level *of their own village*; so a complaint about their
committee, routed to the township, is invisible to them by every route. A township sees its
villages' and its own level; a complaint about the township (routed to the county) is not
shown to it, nor to the region's hotline operators, who sit in the township's office.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import col

from intake.reports.kinds import LEVEL_RANK, KindRule, Level, SubjectKind
from intake.reports.models import Report
from intake.users import Role, Scope

__all__ = ["Route", "Visibility", "level_above", "may_act", "route", "visibility"]


@dataclass(frozen=True)
class Route:
    """The level that handles a report and why (a key the item page translates)."""

    level: Level
    reason: str


def route(rule: KindRule, subject: SubjectKind, *, village_told: bool = True) -> Route:
    """The level for a report of ``rule``'s kind about ``subject``.

    ``village_told=False`` (the reporter asked that the village not be told) moves a report
    the village would handle to the township; it never lowers a level.
    """
    level = rule.routes[subject]
    if subject in (SubjectKind.CADRE, SubjectKind.COMMITTEE):
        reason = "concerns_village"
    elif subject is SubjectKind.TOWNSHIP:
        reason = "concerns_township"
    else:
        reason = f"rule_{subject.value}"
    if not village_told and level is Level.VILLAGE:
        if not rule.village_may_be_skipped:
            raise ValueError("this kind of report cannot bypass the village")
        return Route(Level.TOWNSHIP, "village_not_told")
    return Route(level, reason)


def level_above(level: Level) -> Level:
    """The level an objection sends a report to (the county is the top we serve)."""
    return {Level.VILLAGE: Level.TOWNSHIP}.get(level, Level.COUNTY)


#: One clause: the report's routed level must be one of ``levels`` and its ``column``
#: must equal ``value`` (a scope missing its place, ``None``, matches nothing).
_Clause = tuple[frozenset[Level], str, str | None]
_BELOW_COUNTY = frozenset({Level.VILLAGE, Level.TOWNSHIP})
_ALL_LEVELS = frozenset(Level)


def _clauses(scope: Scope) -> list[_Clause] | None:
    """The rule itself: ``None`` sees everything, ``[]`` nothing."""
    if scope.role is Role.ADMIN:
        return None
    if scope.role is Role.VILLAGE:
        if scope.village_code is None:
            return []
        return [(frozenset({Level.VILLAGE}), "village_code", scope.village_code)]
    if scope.role is Role.TOWNSHIP:
        return [(_BELOW_COUNTY, "township_code", scope.township_code)]
    if scope.role is Role.OPERATOR:
        return [(_BELOW_COUNTY, "region_code", scope.region_code)]
    return [(_ALL_LEVELS, "region_code", scope.region_code)]


@dataclass(frozen=True)
class Visibility:
    """Which reports a scope may see: ``sql`` for queries, calling it for one report."""

    sql: ColumnElement[bool]
    check: Callable[[Report], bool]

    def __call__(self, report: Report) -> bool:
        return self.check(report)


def visibility(scope: Scope) -> Visibility:
    """The reports ``scope`` may see, as a SQL condition on :class:`Report` and a check."""
    clauses = _clauses(scope)
    if clauses is None:
        return Visibility(true(), lambda _report: True)
    if not clauses:
        return Visibility(false(), lambda _report: False)
    sql = or_(
        *(
            and_(
                col(Report.routed_level).in_(sorted(level.value for level in levels)),
                getattr(Report, column) == value if value is not None else false(),
            )
            for levels, column, value in clauses
        )
    )

    def check(report: Report) -> bool:
        return any(
            report.routed_level in {level.value for level in levels}
            and value is not None
            and getattr(report, column) == value
            for levels, column, value in clauses
        )

    return Visibility(sql, check)


def may_act(scope: Scope, report: Report) -> bool:
    """Whether ``scope`` may change ``report``: it sees it, may act at all, and sits at the
    report's level or above (a township may take over its village's report; the village
    never acts on the township's)."""
    if not scope.can_act or not visibility(scope)(report):
        return False
    rank = {Role.VILLAGE: 0, Role.TOWNSHIP: 1, Role.COUNTY: 2, Role.ADMIN: 2}[scope.role]
    return rank >= LEVEL_RANK[Level(report.routed_level)]
