"""Working-day deadlines with China's official holidays and adjusted workdays (decision 7).

Holidays and the weekend days worked in exchange (调休) come from the ``chinesecalendar``
package, which knows only the years it was released with. For any other year the calendar
falls back to Monday–Friday and logs one warning per year, so a deadline is never lost, only
possibly a day or two early around a holiday; upgrading the package fixes it.

Times are Asia/Shanghai: an aware datetime is converted there, a naive one is taken as
Shanghai wall time.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["SHANGHAI", "WorkdayCalendar", "add_calendar_days"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
_END_OF_DAY = time(23, 59, 59)


def _local_date(moment: datetime | date, tz: tzinfo = SHANGHAI) -> date:
    """The calendar date of ``moment`` in ``tz`` (naive datetimes are taken as already local)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(tz)
        return moment.date()
    return moment


@cache
def _year_known(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkdayCalendar:
    """Answers "is this a working day?" and counts working-day deadlines."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(__name__)
        self._warned_years: set[int] = set()
        self._lock = threading.Lock()

    def is_workday(self, day: date) -> bool:
        """True on an official working day, including a weekend day worked in exchange.

        For a year the package has no data for, Monday–Friday, with one warning per year.
        """
        day = _local_date(day)
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._warn_unknown_year(day.year)
            return day.weekday() < 5

    def knows_year(self, year: int) -> bool:
        """Whether the package has ``year``'s official holidays; if not, that year's
        working days are an estimate (Monday–Friday) and pages say so."""
        return _year_known(year)

    def estimated_year(self, deadline: datetime | date | None) -> int | None:
        """The year whose holidays a working-day ``deadline`` was counted without (None if
        it was counted with the official calendar). Years run contiguously in the package,
        so a deadline in a known year was counted entirely with known years."""
        if deadline is None:
            return None
        year = _local_date(deadline).year
        return None if self.knows_year(year) else year

    def _warn_unknown_year(self, year: int) -> None:
        with self._lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        self._logger.warning(
            "working-day calendar has no data for %d; counting weekends only", year
        )

    def add_working_days(self, start: datetime | date, days: int) -> date:
        """The date ``days`` working days after ``start``.

        Day 1 is the first working day *after* the start date, whatever the hour and whether
        or not the start date is itself a working day: a report made on Friday with 3 working
        days is due on Wednesday. ``days == 0`` gives the start date itself.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        day = _local_date(start)
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def end_of_working_day(self, start: datetime, days: int, tz: tzinfo = SHANGHAI) -> datetime:
        """The deadline: 23:59:59 in ``tz`` on :meth:`add_working_days` of ``start``'s date."""
        due = self.add_working_days(_local_date(start, tz), days)
        return datetime.combine(due, _END_OF_DAY, tzinfo=tz)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative if end < start).

        The inverse of :meth:`add_working_days`: ``working_days_between(d,
        add_working_days(d, n)) == n``.
        """
        start, end = _local_date(start), _local_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            count += self.is_workday(day)
        return count

    def is_working_hours(self, moment: datetime, start_hour: int = 9, end_hour: int = 17) -> bool:
        """True on a working day from ``start_hour``:00 up to (not including) ``end_hour``:00."""
        local = moment.astimezone(SHANGHAI) if moment.tzinfo is not None else moment
        return self.is_workday(local.date()) and start_hour <= local.hour < end_hour


def add_calendar_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` calendar days (the 7-day notice, the 15-day decision)."""
    return start + timedelta(days=days)
