"""Enrolment names a helper; the 1-year review, the follow-up year and the exit.

Over real HTTP on SQLite and PostgreSQL: the county picks a helper of the place or creates
one; a year later the daily job opens a review in the village queue, which walks village
→ township → county with each level's outcome recorded (a level overruling the one below
must say why); the applicant hears of the opening and of each decision; risk eliminated
puts the household in its follow-up year, and a year on an exit item opens.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cadre_support import VILLAGE_A, VILLAGE_B, act, add_user, apply_by_chat, client_for, login
from conftest import FakeClock
from helpers_support import row, write_xlsx
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.services import Services
from intake.audit import AuditEvent
from intake.helpers.assignments import create_helper, current_assignment
from intake.helpers.models import Helper, HelpReview
from intake.helpers.review import due_reviews, open_due_reviews
from intake.helpers.roster import import_roster
from intake.helpers.visits import FOLLOWUP, household_states
from intake.households import Household
from intake.notices import Notice, notice_sink
from intake.procedure import Enrollment, apply
from intake.queue import ItemKind, ItemStatus, QueueItem
from intake.users import Role, Scope
from intake.workdays import SHANGHAI
from notifications.digest import post_notice
from notifications.jobs import JOBS, JobContext
from notifications.outbox import OutboxMessage
from notifications.sealing import open_payload

ADMIN = Scope(Role.ADMIN, None, None, None)


def _users(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "xian", Role.COUNTY, "gangkou")


def _to_county(services: Services, item: QueueItem, clock: FakeClock) -> None:
    """Walk an application to the county's desk (the procedure's own tests cover these)."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("start_village_review", {}),
        ("village_report", {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "过"}),
        ("start_notice", {}),
    ]
    for action, facts in steps:
        _apply(services, item.id or 0, action, facts)
    clock.advance(days=8)
    _apply(services, item.id or 0, "end_notice", {})


def _apply(services: Services, item_id: int, action: str, facts: dict[str, Any]) -> None:
    with services.db.write() as db:
        item = db.get(QueueItem, item_id)
        assert item is not None
        sink = notice_sink(post_notice, lambda _: services.default_policy)
        apply(db, item, action, scope=ADMIN, actor="user:99", policy=services.default_policy,
              calendar=services.calendar, now=services.clock(), cipher=services.cipher,
              facts=facts, sink=sink)  # fmt: skip


def _helper(services: Services, name: str, village: str | None, township: str = "gangkou",
            phone: str | None = None) -> int:  # fmt: skip
    with services.db.write() as db:
        helper = create_helper(db, services.cipher, name=name, phone=phone, region_code=township,
                               township_code=township, village_code=village, actor="test",
                               now=services.clock())  # fmt: skip
        return int(helper.id or 0)


def _texts(services: Services, recipient: str) -> list[str]:
    with services.db.read() as db:
        rows = db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient, OutboxMessage.priority == 5)
            .order_by(col(OutboxMessage.id))
        )
        return [open_payload(m.payload, services.cipher)["text"] for m in rows]


async def test_enrolment_offers_the_places_helpers_and_records_the_pick(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="e-1")
    _to_county(services, item, clock)
    mine = _helper(services, "柏岭帮扶人", VILLAGE_A, phone="13900000001")
    township_wide = _helper(services, "乡里帮扶人", None)
    other_village = _helper(services, "横岭帮扶人", VILLAGE_B)
    other_township = _helper(services, "博罗帮扶人", None, township="boluo")
    _users(services)
    async with client_for(services) as client:
        csrf = await login(client, "xian")
        page = (await client.get(f"/cadre/items/{item.id}")).text
        assert f'<option value="{mine}">柏岭帮扶人</option>' in page
        assert f'<option value="{township_wide}">乡里帮扶人</option>' in page
        assert "横岭帮扶人" not in page and "博罗帮扶人" not in page
        for wrong in (other_village, other_township, 999999):
            refused = await act(client, item.id or 0, csrf, "enrol", risk_codes=["01"],
                                helper=str(wrong))  # fmt: skip
            assert refused.status_code == 422
            assert "帮扶人选择有误" in refused.text
        done = await act(client, item.id or 0, csrf, "enrol", risk_codes=["01"], helper=str(mine))
        assert done.status_code == 303
    with services.db.read() as db:
        enrolment = db.exec(select(Enrollment)).one()
        assert enrolment.helper_name == "柏岭帮扶人"
        assignment = current_assignment(db, enrolment.household_id or 0)
        assert assignment is not None and assignment.helper_id == mine
        household = db.get(Household, enrolment.household_id)
        assert household is not None and household.category == "monitored"
        event = db.exec(select(AuditEvent).where(AuditEvent.action == "procedure.enrol")).one()
        assert event.data["helper_id"] == mine
    assert "柏岭帮扶人" in _texts(services, "e-1")[-1], "the applicant hears who helps them"


async def test_enrolment_creates_a_new_helper_and_refuses_a_bad_one(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="e-2")
    _to_county(services, item, clock)
    _helper(services, "已有的人", VILLAGE_A, phone="13900000002")
    _users(services)
    async with client_for(services) as client:
        csrf = await login(client, "xian")

        async def enrol(**fields: str) -> Any:
            return await act(client, item.id or 0, csrf, "enrol", risk_codes=["01"], **fields)

        nameless = await enrol(helper="new", helper_phone="13900000003")
        assert nameless.status_code == 422 and "新帮扶人姓名" in nameless.text
        assert 'value="13900000003"' in nameless.text, "the typed phone is kept"
        bad_phone = await enrol(helper="new", helper_name="张新", helper_phone="12345")
        assert bad_phone.status_code == 422 and "帮扶人选择有误" in bad_phone.text
        taken = await enrol(helper="new", helper_name="张新", helper_phone="139 0000 0002")
        assert taken.status_code == 422, "a phone identifies one helper"
        done = await enrol(helper="new", helper_name="张新", helper_phone="13900000004",
                           helper_work_unit="县农业局")  # fmt: skip
        assert done.status_code == 303
    with services.db.read() as db:
        helper = db.exec(select(Helper).where(Helper.name == "张新")).one()
        assert helper.work_unit == "县农业局" and helper.village_code == VILLAGE_A
        assert services.cipher.unseal(helper.phone_cipher) == "13900000004"
        enrolment = db.exec(select(Enrollment)).one()
        assignment = current_assignment(db, enrolment.household_id or 0)
        assert assignment is not None and assignment.helper_id == helper.id
        assert len(list(db.exec(select(Helper)))) == 2, "refused forms made no helper"


def _enrolled(services: Services, clock: FakeClock, sender: str, serial: int) -> QueueItem:
    item = apply_by_chat(services, sender=sender, serial=serial)
    _to_county(services, item, clock)
    _apply(services, item.id or 0, "enrol", {"risk_codes": ["01"], "helper": "刘莹嗣"})
    return item


def _open(services: Services, told: list[Notice] | None = None) -> int:
    def post(_session: Any, notice: Notice) -> None:
        if told is not None:
            told.append(notice)

    return open_due_reviews(services.db, policies=services.policies, now=services.clock(),
                            new_code=services.effects.new_code, post_notice=post)  # fmt: skip


def _review_item(services: Services, kind: ItemKind) -> QueueItem:
    with services.db.read() as db:
        found = db.exec(
            select(QueueItem).where(QueueItem.kind == kind).order_by(col(QueueItem.id).desc())
        ).first()
        assert found is not None
        return found


async def test_a_year_of_help_opens_a_review_once_and_it_climbs_the_ladder(
    services: Services, clock: FakeClock
) -> None:
    enrolled = _enrolled(services, clock, "r-1", 11)
    assert _open(services) == 0, "not a year yet"
    clock.advance(days=364)
    assert _open(services) == 0
    clock.advance(days=1)
    told: list[Notice] = []
    assert _open(services, told) == 1
    assert _open(services, told) == 0, "opened once"
    review = _review_item(services, ItemKind.REVIEW)
    assert review.status == ItemStatus.VILLAGE_REVIEW and review.village_code == VILLAGE_A
    assert review.contact_id == enrolled.contact_id
    assert len(told) == 1 and "帮扶已满一年" in told[0].text and told[0].recipient == "r-1"
    _users(services)
    rid = review.id or 0

    async def step(user: str, action: str, **fields: str) -> Any:
        async with client_for(services) as client:
            csrf = await login(client, user)
            return await act(client, rid, csrf, action, **fields)

    async with client_for(services) as client:
        await login(client, "cun")
        page = (await client.get(f"/cadre/items/{rid}")).text
        assert "村提出评估意见" in page and '<option value="risk_eliminated"' in page
        assert "确认纳入监测" not in page, "a review is not an enrolment"
    visit = {"home_visit": "on", "meeting_result": "收入稳定"}
    missing = await step("cun", "propose_outcome", **visit)
    assert missing.status_code == 422 and "评估意见" in missing.text
    eliminated = {"outcome": "risk_eliminated"}
    assert (await step("cun", "propose_outcome", **visit, **eliminated)).status_code == 303
    assert (await step("cun", "check_outcome", **eliminated)).status_code == 403
    overrule = await step("xiang", "check_outcome", outcome="help_continues")
    assert overrule.status_code == 422, "overruling the village needs a reason"
    back = await step("xiang", "return_to_village", reason="请补充收入材料")
    assert back.status_code == 303
    assert (await step("cun", "propose_outcome", **visit, **eliminated)).status_code == 303
    assert (await step("xiang", "check_outcome", **eliminated)).status_code == 303
    assert (await step("xian", "confirm_outcome", **eliminated)).status_code == 303
    async with client_for(services) as client:
        await login(client, "xian")
        page = (await client.get(f"/cadre/items/{rid}")).text
        assert 'id="review-outcome">风险消除' in page
    with services.db.read() as db:
        row = db.exec(select(HelpReview).where(HelpReview.queue_item_id == rid)).one()
        assert (row.proposed, row.checked, row.outcome) == ("risk_eliminated",) * 3
        household = db.get(Household, row.household_id)
        assert household is not None and household.category == FOLLOWUP
        on_item = select(AuditEvent).where(
            AuditEvent.subject_kind == "queue_item", AuditEvent.subject_id == rid
        )
        events = [e.action.removeprefix("procedure.") for e in db.exec(on_item)]
        assert events == ["review.opened", "propose_outcome", "return_to_village",
                          "propose_outcome", "check_outcome", "confirm_outcome"]  # fmt: skip
    texts = _texts(services, "r-1")
    assert any("村里的评估意见是：风险已消除" in t for t in texts)
    assert any("乡镇的审核意见是：风险已消除" in t for t in texts)
    assert any("请补充收入材料" in t for t in texts), "the return is told too"
    assert "县里已确认您家风险消除" in texts[-1] and review.tracking_code in texts[-1]


async def test_the_follow_up_year_visits_less_often_then_an_exit_opens(
    services: Services, clock: FakeClock
) -> None:
    _enrolled(services, clock, "f-1", 21)
    clock.advance(days=365)
    assert _open(services) == 1
    rid = _review_item(services, ItemKind.REVIEW).id or 0
    for action in ("propose_outcome", "check_outcome", "confirm_outcome"):
        _apply(services, rid, action, {"home_visit": "on", "meeting_result": "稳定",
                                       "outcome": "risk_eliminated"})  # fmt: skip
    decided = services.clock().astimezone(SHANGHAI).date()
    with services.db.read() as db:
        household_id = db.exec(select(HelpReview.household_id)).one()
        today = decided
        month = f"{today.year:04d}-{today.month:02d}"
        states = household_states(db, [household_id], month, today, 3)
        assert states[household_id].value == "due", "never visited: the follow-up starts due"
        assert due_reviews(db, today + timedelta(days=364)) == []
        due = due_reviews(db, today + timedelta(days=366))
        assert [(d.household_id, d.kind) for d in due] == [(household_id, ItemKind.EXIT)]
    clock.advance(days=366)
    told: list[Notice] = []
    assert _open(services, told) == 1 and "持续关注满一年" in told[0].text
    exit_id = _review_item(services, ItemKind.EXIT).id or 0
    for action in ("propose_outcome", "check_outcome", "confirm_outcome"):
        _apply(services, exit_id, action, {"home_visit": "on", "meeting_result": "稳定",
                                           "outcome": "exit"})  # fmt: skip
    with services.db.read() as db:
        household = db.get(Household, household_id)
        assert household is not None and household.category == "exited"
        assert current_assignment(db, household_id) is None, "off the helper's list"
        assert due_reviews(db, services.clock().date() + timedelta(days=800)) == []
    assert "退出监测" in _texts(services, "f-1")[-1]


async def test_help_continues_starts_another_year(services: Services, clock: FakeClock) -> None:
    _enrolled(services, clock, "c-1", 31)
    clock.advance(days=365)
    assert _open(services) == 1
    rid = _review_item(services, ItemKind.REVIEW).id or 0
    _apply(services, rid, "propose_outcome", {"home_visit": "on", "meeting_result": "仍有困难",
                                              "outcome": "help_continues"})  # fmt: skip
    with pytest.raises(Exception, match="reason"):
        _apply(services, rid, "check_outcome", {"outcome": "risk_eliminated"})
    _apply(services, rid, "check_outcome", {"outcome": "help_continues"})
    _apply(services, rid, "confirm_outcome", {"outcome": "help_continues"})
    with services.db.read() as db:
        household_id = db.exec(select(HelpReview.household_id)).one()
        household = db.get(Household, household_id)
        assert household is not None and household.category == "monitored"
    clock.advance(days=200)
    assert _open(services) == 0, "the new year counts from the decision"
    clock.advance(days=170)
    assert _open(services) == 1
    assert "继续帮扶一年" in _texts(services, "c-1")[-1]


def test_the_jobs_table_opens_the_reviews_due(services: Services, clock: FakeClock) -> None:
    _enrolled(services, clock, "r-job", 21)
    context = JobContext(db=services.db, policies=services.policies,
                         calendar=services.calendar, clock=clock, worker="w",
                         cipher=services.cipher)  # fmt: skip
    job = next(job for job in JOBS if job.name == "reviews.open")
    assert job.run(context) == 0
    clock.advance(days=365)
    assert job.run(context) == 1
    assert job.run(context) == 0, "an hourly tick opens it once"
    assert _review_item(services, ItemKind.REVIEW).contact_id is not None


def test_one_review_per_household_and_year(services: Services, clock: FakeClock) -> None:
    """Two processes racing to open the same review: the unique key lets one win."""
    _enrolled(services, clock, "u-1", 41)
    clock.advance(days=365)
    with services.db.read() as db:
        (due,) = due_reviews(db, services.clock().date())
    assert _open(services) == 1
    with pytest.raises(IntegrityError), services.db.write() as db:
        first = db.exec(select(QueueItem).where(QueueItem.kind == ItemKind.REVIEW)).one()
        item = QueueItem(kind=first.kind, status=first.status, tracking_code="SECO-NDXX",
                         region_code=first.region_code, township_code=first.township_code,
                         village_code=first.village_code)  # fmt: skip
        db.add(item)
        db.flush()
        db.add(HelpReview(queue_item_id=item.id or 0, household_id=due.household_id,
                          kind="review", period_start=due.period_start,
                          opened_at=services.clock()))  # fmt: skip
        db.flush()


async def test_enrolled_again_during_follow_up_gets_a_new_year(
    services: Services, clock: FakeClock
) -> None:
    """A household whose risk came back and was enrolled again is reviewed a year later."""
    _enrolled(services, clock, "g-1", 51)
    clock.advance(days=365)
    assert _open(services) == 1
    rid = _review_item(services, ItemKind.REVIEW).id or 0
    for action in ("propose_outcome", "check_outcome", "confirm_outcome"):
        _apply(services, rid, action, {"home_visit": "on", "meeting_result": "稳定",
                                       "outcome": "risk_eliminated"})  # fmt: skip
    clock.advance(days=100)
    _enrolled(services, clock, "g-2", 51)  # the same ID number: the same household
    with services.db.read() as db:
        assert len(list(db.exec(select(Household)))) == 1
    clock.advance(days=300)
    assert _open(services) == 0, "neither the old follow-up's exit nor a review yet"
    clock.advance(days=66)
    assert _open(services) == 1
    assert _review_item(services, ItemKind.REVIEW).id != rid


def test_a_household_known_only_from_the_roster_is_reviewed_a_year_after_it_was_listed(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    first = write_xlsx(tmp_path / "roster.xlsx", [row(1), row(2)])
    changed = write_xlsx(tmp_path / "again.xlsx", [row(1, reason="务工收入中断"), row(2)])
    scope = Scope(Role.TOWNSHIP, "gangkou", "gangkou", None)

    def roster(path: Path) -> None:
        report = import_roster(services.db, services.cipher, path, scope=scope,
                               policies=services.policies, actor="user:1",
                               now=services.clock(), today=services.clock().date())  # fmt: skip
        assert not report.problems

    roster(first)
    clock.advance(days=200)
    roster(changed)  # listed again, one entry updated: the year counts from the first listing
    clock.advance(days=164)
    assert _open(services) == 0, "a day short of the year"
    clock.advance(days=1)
    told: list[Notice] = []
    assert _open(services, told) == 2 and told == [], "no applicant to tell"
    with services.db.read() as db:
        items = db.exec(select(QueueItem).where(QueueItem.kind == ItemKind.REVIEW)).all()
        reviews = db.exec(select(HelpReview)).all()
    assert {(i.status, i.village_code, i.township_code, i.region_code) for i in items} == {
        (ItemStatus.VILLAGE_REVIEW, VILLAGE_A, "gangkou", "gangkou")
    }
    assert len({r.household_id for r in reviews}) == 2
    assert _open(services) == 0, "once"
