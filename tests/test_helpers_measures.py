"""Measure deadlines (完成时限) climb the same ladder as visits, holidays counted out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from helpers_support import cipher, migrated, policies

from intake.helpers.measures import late_measures, measure_level
from intake.helpers.models import VisitMode
from intake.helpers.policy import helpers_policy
from intake.helpers.visits import Level, escalation_level, record_visit
from intake.households import Household
from intake.procedure import Enrollment
from intake.queue import QueueItem
from intake.workdays import WorkdayCalendar

CAL = WorkdayCalendar()
HP = helpers_policy(policies()["gangkou"])
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_a_deadline_at_month_end_climbs_exactly_as_an_overdue_visit() -> None:
    for period, end in (("2026-01", date(2026, 1, 31)), ("2026-09", date(2026, 9, 30))):
        for offset in range(0, 30):
            day = end + timedelta(days=offset)
            assert measure_level(end, day, CAL, HP) == escalation_level(period, day, CAL, HP)


def test_the_spring_festival_and_national_day_are_not_counted() -> None:
    # Due Fri 13 Feb 2026: Sat 14 Feb is an adjusted workday, 15-23 Feb the holiday, so
    # the village's 3 working days are 14, 24 and 25 Feb; the township hears on the 26th.
    due = date(2026, 2, 13)
    assert measure_level(due, due, CAL, HP) is None
    assert measure_level(due, date(2026, 2, 14), CAL, HP) is Level.VILLAGE
    assert measure_level(due, date(2026, 2, 23), CAL, HP) is Level.VILLAGE
    assert measure_level(due, date(2026, 2, 25), CAL, HP) is Level.VILLAGE
    assert measure_level(due, date(2026, 2, 26), CAL, HP) is Level.TOWNSHIP
    # Due Wed 30 Sep 2026: 1-7 Oct holiday, Sat 10 Oct worked: 8, 9, 10 Oct, then the 12th.
    due = date(2026, 9, 30)
    assert measure_level(due, date(2026, 10, 11), CAL, HP) is Level.VILLAGE
    assert measure_level(due, date(2026, 10, 12), CAL, HP) is Level.TOWNSHIP


def test_open_measures_come_from_the_latest_visit_or_the_enrolment(database_url: str) -> None:
    db = migrated(database_url)
    key = cipher()
    with db.write() as session:
        households = []
        for n, village in enumerate(("gangkou-bailing", "gangkou-bailing", "boluo-sample-a")):
            household = Household(id_hash=f"m{n}", id_cipher="x", head_name=f"户{n}",
                                  village_code=village, category="monitored")  # fmt: skip
            session.add(household)
            households.append(household)
        session.flush()
        first, second, far = (int(h.id or 0) for h in households)
        for household_id in (first, far):  # enrolled with a measure due 1 Nov
            item = QueueItem(kind="application", status="enrolled",
                             tracking_code=f"E{household_id}", region_code="gangkou",
                             township_code="gangkou")  # fmt: skip
            session.add(item)
            session.flush()
            session.add(Enrollment(queue_item_id=item.id or 0, household_id=household_id,
                                   risk_codes="01", helper_name="李", enrolled_by="t",
                                   measures_cipher=key.seal("产业奖补"),
                                   measures_due=date(2026, 11, 1)))  # fmt: skip
        # The second household's latest visit: one measure done, one due yesterday, one
        # due 1 Nov; an older visit's measure no longer counts.
        old = [{"measure": "旧措施", "progress": "", "deadline": "2026-01-01"}]
        latest = [
            {"measure": "公益岗位", "progress": "已完成", "deadline": "2026-10-01"},
            {"measure": "危房改造", "progress": "施工中", "deadline": "2026-11-24"},
            {"measure": "医疗救助", "progress": "办理中", "deadline": "2026-11-01"},
            {"measure": "教育资助", "progress": "", "deadline": "2026-12-31"},
        ]
        for visited, measures in ((date(2026, 9, 5), old), (date(2026, 10, 5), latest)):
            record_visit(session, key, household_id=second, helper_id=None,
                         period=f"{visited:%Y-%m}", visited_on=visited, mode=VisitMode.IN_PERSON,
                         measures=measures, actor="t", now=NOW)  # fmt: skip
    today = date(2026, 11, 25)
    with db.read() as session:
        late = late_measures(session, key, {"gangkou-bailing"}, today, CAL, HP)
    found = [(m.household_id, m.measure, m.deadline, m.level) for m in late]
    assert sorted(found) == sorted(
        [
            (first, "产业奖补", date(2026, 11, 1), Level.TOWNSHIP),
            (second, "危房改造", date(2026, 11, 24), Level.VILLAGE),
            (second, "医疗救助", date(2026, 11, 1), Level.TOWNSHIP),
        ]
    ), "another township's household, done and future measures are not listed"
    db.dispose()
