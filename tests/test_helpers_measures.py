"""Measure deadlines (完成时限) climb the same ladder as visits, holidays counted out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from helpers_support import cipher, migrated, policies
from sqlmodel import select

from intake.crypto import FieldCipher
from intake.db import Database
from intake.digest import build_digest
from intake.helpers.measures import late_measures, ledger_of, measure_level
from intake.helpers.models import VisitMode
from intake.helpers.policy import helpers_policy
from intake.helpers.visits import Level, escalation_level, record_visit
from intake.households import Household
from intake.procedure import Enrollment
from intake.queue import QueueItem
from intake.users import Role, User
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


def _ledger(db: Database, key: FieldCipher) -> tuple[int, int, int]:
    """Three households: the first enrolled with a measure due 1 Nov, the second with a
    visit's measures (one done, one due 24 Nov, one due 1 Nov, one in December), the third
    in another township."""
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
    return first, second, far


def test_open_measures_come_from_the_latest_visit_or_the_enrolment(database_url: str) -> None:
    db = migrated(database_url)
    key = cipher()
    first, second, _ = _ledger(db, key)
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


def test_late_measures_reach_the_village_digest_then_the_township_digest(
    database_url: str,
) -> None:
    db = migrated(database_url)
    key = cipher()
    _ledger(db, key)
    places = {Role.VILLAGE: ("gangkou", "gangkou-bailing"), Role.TOWNSHIP: ("gangkou", None),
              Role.COUNTY: (None, None)}  # fmt: skip
    with db.write() as session:
        for n, (role, (township, village)) in enumerate(places.items()):
            session.add(User(username=role.value, display_name=role.value, password_hash="x",
                             role=role.value, region_code="gangkou", township_code=township,
                             village_code=village, chat_channel="telegram",
                             chat_external_id=str(100 + n)))  # fmt: skip

    def digest(role: Role, now: datetime) -> str:
        with db.read() as session:
            user = session.exec(select(User).where(User.username == role.value)).one()
            found = build_digest(session, user, since=now, now=now, calendar=CAL,
                                 policies=policies(), base_url="http://x", cipher=key)  # fmt: skip
        return found.text if found is not None else ""

    text = digest(Role.VILLAGE, NOW)
    assert "帮扶措施逾期未完成 3 项" in text
    assert "· 户1（柏岭村）危房改造，时限 2026年11月24日" in text
    assert "产业奖补" in text and "医疗救助" in text
    assert "公益岗位" not in text and "教育资助" not in text
    township = digest(Role.TOWNSHIP, NOW)
    assert "帮扶措施逾期未完成 2 项" in township, "24 Nov is still the village's"
    assert "危房改造" not in township and "产业奖补" in township
    assert "帮扶措施" not in digest(Role.COUNTY, NOW)
    later = NOW + timedelta(days=7)
    assert "危房改造" in digest(Role.TOWNSHIP, later), "3 working days on, the township's too"
    db.dispose()


def test_the_ledger_is_the_newest_record_of_visit_or_enrolment(database_url: str) -> None:
    """A visit's measures replace the enrolment's; enrolling again replaces the visit's; a
    back-dated visit logged later counts as the later one; no deadline is still a measure."""
    db = migrated(database_url)
    key = cipher()
    with db.write() as session:
        household = Household(id_hash="l1", id_cipher="x", head_name="户L",
                              village_code="gangkou-bailing", category="monitored")  # fmt: skip
        session.add(household)
        session.flush()
        hid = int(household.id or 0)

        def enrol(code: str, text: str, at: datetime) -> None:
            item = QueueItem(kind="application", status="enrolled", tracking_code=code,
                             region_code="gangkou", township_code="gangkou")  # fmt: skip
            session.add(item)
            session.flush()
            session.add(Enrollment(queue_item_id=item.id or 0, household_id=hid,
                                   risk_codes="01", helper_name="李", enrolled_by="t",
                                   measures_cipher=key.seal(text), enrolled_at=at))  # fmt: skip
            session.flush()

        def visit(day: date, measure: str, at: datetime) -> None:
            entry = {"measure": measure, "progress": "", "deadline": None}
            record_visit(session, key, household_id=hid, helper_id=None, period=f"{day:%Y-%m}",
                         visited_on=day, mode=VisitMode.IN_PERSON, actor="t", now=at,
                         measures=[entry])  # fmt: skip
            session.flush()

        enrol("L001", "公益岗位", NOW - timedelta(days=300))
    with db.read() as session:
        assert [e["measure"] for e in ledger_of(session, key, hid)] == ["公益岗位"]
        assert ledger_of(session, key, hid)[0]["deadline"] is None, "no deadline, still asked"
    with db.write() as session:
        visit(date(2026, 10, 20), "危房改造", NOW - timedelta(days=30))
        visit(date(2026, 9, 5), "医疗救助", NOW - timedelta(days=20))  # back-dated, logged later
    with db.read() as session:
        assert [e["measure"] for e in ledger_of(session, key, hid)] == ["医疗救助"]
    with db.write() as session:
        enrol("L002", "产业奖补", NOW - timedelta(days=1))
    with db.read() as session:
        assert [e["measure"] for e in ledger_of(session, key, hid)] == ["产业奖补"]
    db.dispose()
