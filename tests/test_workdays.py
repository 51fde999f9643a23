"""Tests for intake.workdays: working-day deadlines with official holidays and 调休 workdays.

The holiday dates below are the State Council's notices for 2025 and 2026, as carried by
chinesecalendar 1.11.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.workdays import SHANGHAI, WorkdayCalendar, add_calendar_days


@pytest.fixture
def calendar() -> WorkdayCalendar:
    return WorkdayCalendar()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# (holiday first day, holiday last day, adjusted workdays)
HOLIDAYS = {
    "spring festival 2025": (
        date(2025, 1, 28),
        date(2025, 2, 4),
        [date(2025, 1, 26), date(2025, 2, 8)],
    ),
    "national day 2025": (
        date(2025, 10, 1),
        date(2025, 10, 8),
        [date(2025, 9, 28), date(2025, 10, 11)],
    ),
    "spring festival 2026": (
        date(2026, 2, 15),
        date(2026, 2, 23),
        [date(2026, 2, 14), date(2026, 2, 28)],
    ),
    "national day 2026": (
        date(2026, 10, 1),
        date(2026, 10, 7),
        [date(2026, 9, 20), date(2026, 10, 10)],
    ),
}


@pytest.mark.parametrize("name", HOLIDAYS)
def test_official_holidays_are_days_off(calendar: WorkdayCalendar, name: str) -> None:
    first, last, _ = HOLIDAYS[name]
    assert [day for day in _days(first, last) if calendar.is_workday(day)] == []
    assert calendar.is_workday(first - timedelta(days=1))  # the eve is worked
    assert calendar.is_workday(last + timedelta(days=1))


@pytest.mark.parametrize("name", HOLIDAYS)
def test_adjusted_weekend_days_are_workdays(calendar: WorkdayCalendar, name: str) -> None:
    _, _, adjusted = HOLIDAYS[name]
    for day in adjusted:
        assert day.weekday() >= 5, "an adjusted workday falls on a weekend"
        assert calendar.is_workday(day)


def test_mid_autumn_2026_is_a_day_off(calendar: WorkdayCalendar) -> None:
    assert not calendar.is_workday(date(2026, 9, 25))  # Friday


def test_ordinary_week(calendar: WorkdayCalendar) -> None:
    week = _days(date(2025, 3, 3), date(2025, 3, 9))
    assert [calendar.is_workday(day) for day in week] == [True] * 5 + [False] * 2


# (report date, working days, due date, why)
DEADLINES = [
    (date(2025, 3, 7), 3, date(2025, 3, 12), "Friday report: Mon, Tue, Wed"),
    (date(2025, 3, 8), 3, date(2025, 3, 12), "Saturday report counts from Monday"),
    (date(2025, 3, 10), 3, date(2025, 3, 13), "Monday report: the day itself is day 0"),
    (date(2025, 3, 10), 0, date(2025, 3, 10), "zero working days is the same day"),
    (date(2025, 1, 24), 1, date(2025, 1, 26), "Friday before Spring Festival: Sunday is worked"),
    (date(2025, 1, 24), 3, date(2025, 2, 5), "Sun 26th, Mon 27th, then Wed 5 Feb"),
    (date(2025, 1, 27), 3, date(2025, 2, 7), "eve of Spring Festival 2025"),
    (date(2025, 2, 6), 2, date(2025, 2, 8), "Saturday 8 Feb 2025 is worked"),
    (date(2025, 9, 26), 3, date(2025, 9, 30), "Friday before National Day: Sunday 28th is worked"),
    (date(2025, 9, 30), 3, date(2025, 10, 11), "Thu 9, Fri 10, Sat 11 Oct 2025"),
    (date(2026, 2, 13), 3, date(2026, 2, 25), "Fri 13 Feb 2026: Sat 14th, then Tue 24th, Wed 25th"),
    (date(2026, 2, 27), 1, date(2026, 2, 28), "Saturday 28 Feb 2026 is worked"),
    (date(2026, 9, 30), 3, date(2026, 10, 10), "Thu 8, Fri 9, Sat 10 Oct 2026"),
    (date(2026, 9, 24), 1, date(2026, 9, 28), "Mid-autumn Friday 25 Sep 2026 is off"),
]


@pytest.mark.parametrize(("start", "days", "due", "why"), DEADLINES, ids=[d[3] for d in DEADLINES])
def test_add_working_days(
    calendar: WorkdayCalendar, start: date, days: int, due: date, why: str
) -> None:
    assert calendar.add_working_days(start, days) == due, why
    assert calendar.working_days_between(start, due) == days


def test_add_working_days_uses_the_shanghai_date_of_an_aware_datetime(
    calendar: WorkdayCalendar,
) -> None:
    # 17:00 UTC on Thursday is already 01:00 Friday in Shanghai.
    thursday_evening_utc = datetime(2025, 3, 6, 17, 0, tzinfo=UTC)
    assert calendar.add_working_days(thursday_evening_utc, 3) == date(2025, 3, 12)
    assert calendar.add_working_days(datetime(2025, 3, 7, 23, 59), 3) == date(2025, 3, 12)


def test_negative_days_are_refused(calendar: WorkdayCalendar) -> None:
    with pytest.raises(ValueError):
        calendar.add_working_days(date(2025, 3, 7), -1)


def test_end_of_working_day(calendar: WorkdayCalendar) -> None:
    friday_report = datetime(2025, 1, 24, 16, 30, tzinfo=SHANGHAI)
    deadline = calendar.end_of_working_day(friday_report, 3, SHANGHAI)
    assert deadline == datetime(2025, 2, 5, 23, 59, 59, tzinfo=SHANGHAI)
    assert deadline.utcoffset() == timedelta(hours=8)
    assert deadline.astimezone(UTC) == datetime(2025, 2, 5, 15, 59, 59, tzinfo=UTC)


def test_end_of_working_day_converts_the_start_to_local_time(calendar: WorkdayCalendar) -> None:
    # 20:00 UTC on Friday 24 Jan is Saturday 04:00 in Shanghai: day 1 is Sunday 26 Jan.
    deadline = calendar.end_of_working_day(datetime(2025, 1, 24, 20, 0, tzinfo=UTC), 1, SHANGHAI)
    assert deadline == datetime(2025, 1, 26, 23, 59, 59, tzinfo=SHANGHAI)
    default_tz = calendar.end_of_working_day(datetime(2025, 1, 24, 20, 0, tzinfo=UTC), 1)
    assert default_tz == deadline


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2025, 3, 7), date(2025, 3, 7), 0),
        (date(2025, 3, 7), date(2025, 3, 10), 1),
        (date(2025, 3, 10), date(2025, 3, 7), -1),
        (date(2025, 1, 27), date(2025, 2, 9), 4),  # 5, 6, 7 Feb and Saturday 8 Feb
        (date(2025, 9, 30), date(2025, 10, 8), 0),
        (date(2026, 2, 13), date(2026, 2, 28), 6),  # 14th, 24th-27th, 28th
    ],
)
def test_working_days_between(
    calendar: WorkdayCalendar, start: date, end: date, expected: int
) -> None:
    assert calendar.working_days_between(start, end) == expected


def test_working_days_in_2025(calendar: WorkdayCalendar) -> None:
    # 261 weekdays, less 18 weekday holidays, plus 5 weekend days worked in exchange
    # (26 Jan, 8 Feb, 27 Apr, 28 Sep, 11 Oct).
    worked = calendar.working_days_between(date(2024, 12, 31), date(2025, 12, 31))
    assert worked == 248


@given(st.dates(date(2004, 1, 1), date(2026, 11, 30)), st.integers(0, 20))
def test_between_is_the_inverse_of_add(start: date, days: int) -> None:
    calendar = WorkdayCalendar()
    due = calendar.add_working_days(start, days)
    assert calendar.working_days_between(start, due) == days
    assert due == start or calendar.is_workday(due)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 3, 7, 9, 0, tzinfo=SHANGHAI), True),
        (datetime(2025, 3, 7, 16, 59, tzinfo=SHANGHAI), True),
        (datetime(2025, 3, 7, 17, 0, tzinfo=SHANGHAI), False),
        (datetime(2025, 3, 7, 8, 59, tzinfo=SHANGHAI), False),
        (datetime(2025, 3, 7, 1, 0, tzinfo=UTC), True),  # 09:00 in Shanghai
        (datetime(2025, 3, 6, 23, 0, tzinfo=UTC), False),  # 07:00 Friday in Shanghai
        (datetime(2025, 3, 7, 10, 0), True),  # naive: Shanghai wall time
        (datetime(2025, 3, 8, 10, 0, tzinfo=SHANGHAI), False),  # Saturday
        (datetime(2025, 2, 8, 10, 0, tzinfo=SHANGHAI), True),  # Saturday worked in exchange
        (datetime(2025, 10, 6, 10, 0, tzinfo=SHANGHAI), False),  # National Day holiday Monday
        (datetime(2025, 3, 7, 10, 0, tzinfo=ZoneInfo("America/New_York")), False),  # 23:00
    ],
)
def test_is_working_hours(calendar: WorkdayCalendar, moment: datetime, expected: bool) -> None:
    assert calendar.is_working_hours(moment) is expected


def test_is_working_hours_custom_window(calendar: WorkdayCalendar) -> None:
    moment = datetime(2025, 3, 7, 8, 30, tzinfo=SHANGHAI)
    assert calendar.is_working_hours(moment, start_hour=8, end_hour=12)
    assert not calendar.is_working_hours(moment, start_hour=9, end_hour=12)


def test_unknown_year_falls_back_to_weekends_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkdayCalendar()
    with caplog.at_level(logging.WARNING, logger="intake.workdays"):
        week = _days(date(2027, 1, 4), date(2027, 1, 10))
        assert [calendar.is_workday(day) for day in week] == [True] * 5 + [False] * 2
        # Thu 31 Dec 2026 (known) + 3 crosses into 2027: Fri 1 Jan counts, holiday unknown.
        assert calendar.add_working_days(date(2026, 12, 31), 3) == date(2027, 1, 5)
        assert calendar.working_days_between(date(2027, 1, 1), date(2027, 12, 31)) == 260
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "working-day calendar has no data for 2027; counting weekends only"
    ]
    assert warnings[0].name == "intake.workdays"


def test_each_unknown_year_warns_once_on_the_given_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.workdays.custom")
    calendar = WorkdayCalendar(logger)
    with caplog.at_level(logging.WARNING, logger="tests.workdays.custom"):
        for _ in range(3):
            calendar.is_workday(date(2003, 6, 2))
            calendar.is_workday(date(2028, 6, 2))
    assert [r.getMessage() for r in caplog.records] == [
        "working-day calendar has no data for 2003; counting weekends only",
        "working-day calendar has no data for 2028; counting weekends only",
    ]
    assert {r.name for r in caplog.records} == {"tests.workdays.custom"}


def test_known_years_do_not_warn(
    calendar: WorkdayCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        calendar.add_working_days(date(2025, 1, 1), 250)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (
            datetime(2025, 1, 24, 10, 0, tzinfo=SHANGHAI),
            7,
            datetime(2025, 1, 31, 10, 0, tzinfo=SHANGHAI),
        ),
        (
            datetime(2025, 2, 20, 8, 0, tzinfo=SHANGHAI),
            15,
            datetime(2025, 3, 7, 8, 0, tzinfo=SHANGHAI),
        ),
        (datetime(2024, 2, 28, 8, 0), 1, datetime(2024, 2, 29, 8, 0)),
        (
            datetime(2025, 3, 7, 8, 0, tzinfo=SHANGHAI),
            0,
            datetime(2025, 3, 7, 8, 0, tzinfo=SHANGHAI),
        ),
    ],
)
def test_add_calendar_days(start: datetime, days: int, expected: datetime) -> None:
    assert add_calendar_days(start, days) == expected


def test_which_years_are_estimates(calendar: WorkdayCalendar) -> None:
    assert calendar.knows_year(2026) and calendar.knows_year(2025)
    assert not calendar.knows_year(2027) and not calendar.knows_year(2031)
    assert calendar.estimated_year(date(2026, 12, 31)) is None
    assert calendar.estimated_year(date(2027, 1, 5)) == 2027
    assert calendar.estimated_year(calendar.end_of_working_day(datetime(2026, 12, 31), 3)) == 2027
    # 2027-01-01 01:00 in Beijing is still 2026 in UTC: the local date decides.
    assert calendar.estimated_year(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == 2027
    assert calendar.estimated_year(None) is None
