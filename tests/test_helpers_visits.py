"""Household-months, the ladder and the reminder times over month ends and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from helpers_support import cipher, migrated, policies

from intake.helpers.models import NotVisitedReason, VisitMode
from intake.helpers.policy import HelpersPolicy, helpers_policy
from intake.helpers.reminders import Round, next_working_moment, reminder_at
from intake.helpers.visits import (
    FOLLOWUP,
    Level,
    MonthState,
    VisitError,
    escalation_level,
    household_states,
    month_state,
    record_visit,
    shift_period,
    visit_due,
)
from intake.households import Household
from intake.policy import PolicyError
from intake.workdays import SHANGHAI, WorkdayCalendar

CAL = WorkdayCalendar()


def hp() -> HelpersPolicy:
    return helpers_policy(policies()["gangkou"])


@pytest.mark.parametrize(
    ("period", "which", "expected"),
    [
        ("2026-01", Round.FIRST, datetime(2026, 1, 4, 9)),  # Sun 4 Jan, worked for New Year
        ("2026-02", Round.FIRST, datetime(2026, 2, 2, 9)),
        ("2026-02", Round.SECOND, datetime(2026, 2, 25, 9)),  # month ends Sat 28 Feb (调休)
        ("2026-03", Round.FIRST, datetime(2026, 3, 2, 9)),  # after the Spring Festival month
        ("2026-10", Round.FIRST, datetime(2026, 10, 8, 9)),  # after National Day
        ("2026-12", Round.SECOND, datetime(2026, 12, 28, 9)),
    ],
)
def test_reminder_times_follow_the_official_calendar(
    period: str, which: Round, expected: datetime
) -> None:
    assert reminder_at(period, which, CAL, hp()) == expected.replace(tzinfo=SHANGHAI)


def test_a_late_fire_waits_for_the_next_working_morning() -> None:
    evening = datetime(2026, 9, 30, 18, 0, tzinfo=SHANGHAI)  # the eve of National Day
    assert next_working_moment(evening, CAL, hp()) == datetime(2026, 10, 8, 9, tzinfo=SHANGHAI)
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=SHANGHAI)
    assert next_working_moment(noon, CAL, hp()) == noon


def test_the_ladder_counts_working_days_after_month_end() -> None:
    # September 2026 ends on a Wednesday; 1-7 Oct are holidays: the village has 8, 9 and
    # 10 Oct (Sat 10 Oct is worked in exchange), the township hears on Mon 12 Oct.
    assert escalation_level("2026-09", date(2026, 9, 30), CAL, hp()) is None
    assert escalation_level("2026-09", date(2026, 10, 1), CAL, hp()) is Level.VILLAGE
    assert escalation_level("2026-09", date(2026, 10, 10), CAL, hp()) is Level.VILLAGE
    assert escalation_level("2026-09", date(2026, 10, 11), CAL, hp()) is Level.VILLAGE
    assert escalation_level("2026-09", date(2026, 10, 12), CAL, hp()) is Level.TOWNSHIP
    # February 2026 (the Spring Festival month) ends on Sat 28 Feb, a working day; the
    # village has 2, 3 and 4 March.
    assert escalation_level("2026-02", date(2026, 3, 4), CAL, hp()) is Level.VILLAGE
    assert escalation_level("2026-02", date(2026, 3, 5), CAL, hp()) is Level.TOWNSHIP


def test_month_states() -> None:
    assert month_state([], "2026-12", date(2026, 12, 31)) is MonthState.DUE
    assert month_state([], "2026-12", date(2027, 1, 1)) is MonthState.OVERDUE
    assert month_state(["phone", "in_person"], "2026-12", date(2027, 1, 5)) is MonthState.DONE
    assert month_state(["phone"], "2026-12", date(2027, 1, 5)) is MonthState.DONE_BY_PHONE
    assert month_state(["not_visited"], "2026-12", date(2027, 1, 5)) is MonthState.NOT_DONE
    assert shift_period("2026-12", 1) == "2027-01" and shift_period("2026-01", -1) == "2025-12"
    assert visit_due("2026-12", "2026-10", 3) is False and visit_due("2027-01", "2026-10", 3)


def test_follow_up_households_are_due_every_few_months(database_url: str) -> None:
    db = migrated(database_url)
    now = datetime(2026, 9, 10, tzinfo=UTC)
    with db.write() as session:
        followed = Household(id_hash="f", id_cipher="x", head_name="甲", village_code="v",
                             category=FOLLOWUP)  # fmt: skip
        monthly = Household(id_hash="m", id_cipher="x", head_name="乙", village_code="v")
        session.add_all([followed, monthly])
        session.flush()
        for household in (followed, monthly):
            record_visit(session, cipher(), household_id=int(household.id or 0), helper_id=None,
                         period="2026-09", visited_on=date(2026, 9, 9), mode=VisitMode.IN_PERSON,
                         actor="t", now=now)  # fmt: skip
    ids = [int(followed.id or 0), int(monthly.id or 0)]
    with db.read() as session:
        for period, expected in (("2026-10", MonthState.NOT_DUE), ("2026-12", MonthState.DUE)):
            today = date.fromisoformat(period + "-02")
            states = household_states(session, ids, period, today, 3)
            assert states == {ids[0]: expected, ids[1]: MonthState.DUE}


def test_a_visit_record_is_checked(database_url: str) -> None:
    db = migrated(database_url)
    now = datetime(2026, 12, 5, tzinfo=UTC)
    with db.write() as session:
        household = Household(id_hash="h", id_cipher="x", head_name="甲", village_code="v")
        session.add(household)
        session.flush()
        base = {"household_id": int(household.id or 0), "helper_id": None, "period": "2026-12",
                "visited_on": date(2026, 12, 5), "actor": "t", "now": now}  # fmt: skip
        with pytest.raises(VisitError, match="未能走访时请选择原因"):
            record_visit(session, cipher(), mode=VisitMode.NOT_VISITED, **base)  # type: ignore[arg-type]
        with pytest.raises(VisitError, match="income"):
            record_visit(session, cipher(), mode=VisitMode.PHONE, income={"lottery": 5}, **base)  # type: ignore[arg-type]
        visit = record_visit(session, cipher(), mode=VisitMode.NOT_VISITED,
                             reason=NotVisitedReason.IN_HOSPITAL, **base)  # type: ignore[arg-type]  # fmt: skip
        kept = record_visit(session, cipher(), mode=VisitMode.IN_PERSON, problems="腿伤未愈",
                            income={"wages": 1200}, checks={"water": True}, **base)  # type: ignore[arg-type]  # fmt: skip
    assert visit.not_visited_reason == "in_hospital"
    assert kept.income == {"wages": 1200, "farm_business": 0, "property": 0, "transfers": 0}
    assert kept.problems_cipher and "腿伤" not in kept.problems_cipher


def test_a_bad_helpers_section_names_its_key() -> None:
    policy = policies()["gangkou"]
    broken = policy.model_copy(update={"helpers": {**policy.helpers, "reminder_hour": 25}})
    with pytest.raises(PolicyError, match=r"gangkou: helpers.reminder_hour: .*23"):
        helpers_policy(broken)
    with pytest.raises(PolicyError, match="helpers: missing section"):
        helpers_policy(policy.model_copy(update={"helpers": {}}))


def test_the_overdue_sweep_streams_in_chunks_and_keeps_only_the_overdue(
    database_url: str,
) -> None:
    from intake.helpers.assignments import assign_helper, create_helper
    from intake.helpers.visits import overdue_households

    db = migrated(database_url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with db.write() as session:
        helper = create_helper(session, cipher(), name="帮", phone=None, region_code="gangkou",
                               township_code="gangkou", actor="t", now=now)  # fmt: skip
        for n in range(7):
            household = Household(id_hash=f"s{n}", id_cipher="x", head_name=f"户{n}",
                                  village_code="gangkou-bailing")  # fmt: skip
            session.add(household)
            session.flush()
            ids = {"household_id": int(household.id or 0), "helper_id": int(helper.id or 0)}
            assign_helper(session, cipher(), **ids, actor="t", reason="r", now=now)
            if n % 3 == 0:
                record_visit(session, cipher(), household_id=int(household.id or 0),
                             helper_id=helper.id, period="2026-11", visited_on=date(2026, 11, 5),
                             mode=VisitMode.PHONE, actor="t", now=now)  # fmt: skip
    with db.read() as session:
        whole = overdue_households(session, "2026-11", date(2026, 12, 2), 3, {"gangkou-bailing"})
        chunked = overdue_households(
            session, "2026-11", date(2026, 12, 2), 3, {"gangkou-bailing"}, chunk=2
        )
    assert chunked == whole
    assert [o.head_name for o in whole] == ["户1", "户2", "户4", "户5"]
