"""The procedure's state machine: every (status, action) pair, roles, reasons, deadlines.

Runs on SQLite and PostgreSQL (the ``services`` fixture). Deadlines are checked across the
2026 Spring Festival (adjusted workday Sat 14 Feb, holiday 15-23 Feb) and National Day
(holiday 1-7 Oct, adjusted workday Sat 10 Oct), and for a year the calendar package does
not know (weekends only, with a warning).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from itertools import count, product
from typing import Any

import pytest
from cadre_support import VILLAGE_A, VILLAGE_B, apply_by_chat
from conftest import FakeClock
from sqlmodel import Session, select

from bot.services import Services
from intake.audit import AuditEvent, events_for, reason_of
from intake.helpers.models import HelpReview
from intake.households import Household
from intake.procedure import (
    TRANSITIONS,
    Action,
    Enrollment,
    ProcedureError,
    Transition,
    apply,
    available,
    enrolment_text,
    notice_ends,
)
from intake.queue import ItemKind, ItemStatus, QueueItem
from intake.users import Role, Scope
from intake.workdays import SHANGHAI, WorkdayCalendar

ADMIN = Scope(Role.ADMIN, None, None, None)
_codes = count(1)
LEGAL = {(t.source, t.action): t for t in TRANSITIONS}


def _item(
    db: Session,
    status: ItemStatus,
    *,
    village: str = VILLAGE_A,
    kind: str | None = None,
    **extra: Any,
) -> QueueItem:
    if kind is None:
        callback = status in (ItemStatus.OPEN, ItemStatus.DONE)
        kind = ItemKind.CALLBACK if callback else ItemKind.APPLICATION
    item = QueueItem(
        kind=kind,
        status=status,
        tracking_code=f"T{next(_codes):07d}",
        region_code="gangkou",
        township_code="gangkou",
        village_code=village,
        **extra,
    )
    db.add(item)
    db.flush()
    if kind in (ItemKind.REVIEW, ItemKind.EXIT):
        _review_row(db, item)
    return item


def _review_row(db: Session, item: QueueItem) -> HelpReview:
    """The household and review row behind a review or exit item."""
    serial = next(_codes)
    village = item.village_code or VILLAGE_A
    household = Household(id_hash=f"h{serial}", id_cipher="x", head_name=f"户主{serial}",
                          village_code=village, category="monitored")  # fmt: skip
    db.add(household)
    db.flush()
    assert item.id is not None and household.id is not None
    opened = datetime(2026, 12, 1, tzinfo=UTC)
    review = HelpReview(queue_item_id=item.id, household_id=household.id, kind=item.kind,
                        period_start=date(2025, 12, 1), opened_at=opened)  # fmt: skip
    db.add(review)
    db.flush()
    return review


def _item_for(db: Session, transition: Transition, **extra: Any) -> QueueItem:
    """An item in the transition's source status, of the first kind it is for."""
    return _item(db, transition.source, kind=sorted(transition.kinds)[0], **extra)


def _facts(transition: Transition, target: QueueItem | None, kind: str = "") -> dict[str, Any]:
    return {
        "home_visit": "on",
        "consent_confirmed": "on",
        "applicant_asked": "on",
        "meeting_result": "村民代表会议通过",
        "risk_codes": ["01"],
        "helper": "刘莹嗣",
        "measures": "医疗救助",
        "measures_due": "2027-06-30",
        "merge_into": target.tracking_code if target else "",
        "outcome": "exit" if kind == ItemKind.EXIT else "risk_eliminated",
    }


def _apply(services: Services, db: Session, item: QueueItem, action: str, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "scope": ADMIN,
        "actor": "user:1",
        "policy": services.default_policy,
        "calendar": services.calendar,
        "now": services.clock(),
        "cipher": services.cipher,
    }
    options.update(kw)
    return apply(db, item, action, **options)


def test_every_status_and_action_pair(services: Services) -> None:
    """Legal pairs move to the table's target; every other pair is refused as illegal."""
    for status, action, kind in product(ItemStatus, Action, ItemKind):
        if kind is ItemKind.CALLBACK and status not in (ItemStatus.OPEN, ItemStatus.DONE):
            continue  # call-backs are only ever open or done
        with services.db.write() as db:
            past = datetime(2026, 1, 1, tzinfo=UTC)  # a notice that has ended
            item = _item(db, status, kind=kind, due_at=past)
            target = _item(db, ItemStatus.SUBMITTED)
            transition = LEGAL.get((status, action))
            if transition is None or kind not in transition.kinds:
                with pytest.raises(ProcedureError) as refused:
                    _apply(services, db, item, action, reason="r")
                assert refused.value.code == "illegal", (status, action)
                assert item.status == status
                continue
            facts = _facts(transition, target, kind)
            done = _apply(services, db, item, action, reason="理由", facts=facts)
            assert item.status == transition.target, (status, action)
            assert done.transition is transition
            event = db.exec(
                select(AuditEvent)
                .where(AuditEvent.subject_id == item.id)
                .order_by(AuditEvent.id.desc())  # type: ignore[union-attr]
            ).first()
            assert event is not None and event.action == f"procedure.{action.value}"
            assert event.actor == "user:1" and reason_of(event, services.cipher) == "理由"
            assert event.data["from"] == status and event.data["to"] == transition.target


def test_unknown_action_is_refused(services: Services) -> None:
    with services.db.write() as db:
        item = _item(db, ItemStatus.SUBMITTED)
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, "approve_everything")
    assert refused.value.code == "unknown_action"


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: f"{t.source}-{t.action}")
def test_roles(services: Services, transition: Transition) -> None:
    """Only the transition's roles may take it; a hotline operator never acts."""
    for role in Role:
        scope = Scope(role, "gangkou", "gangkou", VILLAGE_A)
        with services.db.write() as db:
            item = _item_for(db, transition, due_at=datetime(2026, 1, 1, tzinfo=UTC))
            target = _item(db, ItemStatus.SUBMITTED)
            facts = _facts(transition, target, item.kind)
            if role in transition.roles and role is not Role.OPERATOR:
                _apply(services, db, item, transition.action, scope=scope, reason="r", facts=facts)
                assert item.status == transition.target
            else:
                with pytest.raises(ProcedureError) as refused:
                    _apply(
                        services, db, item, transition.action, scope=scope, reason="r", facts=facts
                    )
                assert refused.value.code == "forbidden", role


def test_out_of_scope_is_refused(services: Services) -> None:
    scope = Scope(Role.VILLAGE, "gangkou", "gangkou", VILLAGE_B)
    with services.db.write() as db:
        item = _item(db, ItemStatus.SUBMITTED)
        assert available(item, scope) == []
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, Action.START_VILLAGE_REVIEW, scope=scope)
    assert refused.value.code == "out_of_scope"


@pytest.mark.parametrize(
    "transition",
    [t for t in TRANSITIONS if t.reason_required],
    ids=lambda t: f"{t.source}-{t.action}",
)
def test_reason_required(services: Services, transition: Transition) -> None:
    with services.db.write() as db:
        item = _item_for(db, transition)
        for blank in (None, "", "   "):
            with pytest.raises(ProcedureError) as refused:
                _apply(
                    services,
                    db,
                    item,
                    transition.action,
                    reason=blank,
                    facts=_facts(transition, None),
                )
            assert refused.value.code == "reason_required"
        assert item.status == transition.source


@pytest.mark.parametrize(
    ("missing", "value"),
    [("home_visit", None), ("consent_confirmed", ""), ("meeting_result", "  ")],
)
def test_village_report_needs_its_facts(services: Services, missing: str, value: Any) -> None:
    transition = LEGAL[(ItemStatus.VILLAGE_REVIEW, Action.VILLAGE_REPORT)]
    with services.db.write() as db:
        item = _item(db, ItemStatus.VILLAGE_REVIEW)
        facts = {**_facts(transition, None), missing: value}
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, Action.VILLAGE_REPORT, facts=facts)
    assert refused.value.code == "missing_fact" and refused.value.params["fact"] == missing


@pytest.mark.parametrize(
    "changes",
    [{"risk_codes": []}, {"risk_codes": ["42"]}, {"risk_codes": ["01 OR 1=1"]}, {"helper": ""}],
)
def test_enrol_needs_known_risk_types_and_a_helper(
    services: Services, changes: dict[str, Any]
) -> None:
    transition = LEGAL[(ItemStatus.COUNTY_CONFIRM, Action.ENROL)]
    with services.db.write() as db:
        item = _item(db, ItemStatus.COUNTY_CONFIRM)
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, Action.ENROL, facts={**_facts(transition, None), **changes})
    assert refused.value.code == "missing_fact"


def test_enrol_records_risk_types_helper_and_measures(services: Services) -> None:
    transition = LEGAL[(ItemStatus.COUNTY_CONFIRM, Action.ENROL)]
    with services.db.write() as db:
        item = _item(db, ItemStatus.COUNTY_CONFIRM)
        facts = {**_facts(transition, None), "risk_codes": ["02", "01"], "reason_detail": "住院"}
        _apply(services, db, item, Action.ENROL, facts=facts)
        enrollment = db.exec(select(Enrollment).where(Enrollment.queue_item_id == item.id)).one()
    assert enrollment.risk_codes == "01,02" and enrollment.helper_name == "刘莹嗣"
    assert enrolment_text(enrollment, services.cipher) == ("住院", "医疗救助")
    assert str(enrollment.measures_due) == "2027-06-30"
    assert item.risk_codes == ",01,02," and item.due_at is None


def test_merge_links_a_duplicate_and_refuses_bad_targets(services: Services) -> None:
    with services.db.write() as db:
        item = _item(db, ItemStatus.VILLAGE_REVIEW)
        elsewhere = _item(db, ItemStatus.SUBMITTED, village=VILLAGE_B)
        village = Scope(Role.VILLAGE, "gangkou", "gangkou", VILLAGE_A)
        for bad in ("", "NOPE-0000", item.tracking_code, elsewhere.tracking_code):
            with pytest.raises(ProcedureError) as refused:
                _apply(services, db, item, Action.MERGE, scope=village, facts={"merge_into": bad})
            assert refused.value.code == "bad_merge", bad
        target = _item(db, ItemStatus.TOWNSHIP_REVIEW)
        _apply(
            services,
            db,
            item,
            Action.MERGE,
            scope=village,
            facts={"merge_into": target.tracking_code.lower()},
        )
    assert item.status == ItemStatus.MERGED and item.merged_into_id == target.id


@pytest.mark.parametrize("target_status", list(ItemStatus), ids=str)
def test_merge_target_must_be_a_live_record_of_the_household(
    services: Services, target_status: ItemStatus
) -> None:
    """Every status of the target: a declined, withdrawn or merged one is refused by name."""
    with services.db.write() as db:
        item = _item(db, ItemStatus.VILLAGE_REVIEW)
        target = _item(db, target_status)
        facts = {"merge_into": target.tracking_code}
        if target.kind != item.kind:  # a call-back (open, done) is not an application
            with pytest.raises(ProcedureError) as refused:
                _apply(services, db, item, Action.MERGE, facts=facts)
            assert refused.value.code == "bad_merge"
        elif target_status in (ItemStatus.NOT_ENROLLED, ItemStatus.WITHDRAWN, ItemStatus.MERGED):
            with pytest.raises(ProcedureError) as refused:
                _apply(services, db, item, Action.MERGE, facts=facts)
            assert refused.value.code == "merge_closed"
            assert refused.value.params == {"code": target.tracking_code, "status": target_status}
        else:
            _apply(services, db, item, Action.MERGE, facts=facts)
            assert item.status == ItemStatus.MERGED and item.merged_into_id == target.id
            return
        assert item.status == ItemStatus.VILLAGE_REVIEW and item.merged_into_id is None
        assert [e.action for e in events_for(db, "queue_item", item.id or 0)] == []


#: Who may record a withdrawal, by status: the level holding the item (the township always).
WITHDRAW_ROLES = {
    ItemStatus.SUBMITTED: {Role.VILLAGE, Role.TOWNSHIP, Role.ADMIN},
    ItemStatus.VILLAGE_REVIEW: {Role.VILLAGE, Role.TOWNSHIP, Role.ADMIN},
    ItemStatus.TOWNSHIP_REVIEW: {Role.TOWNSHIP, Role.ADMIN},
    ItemStatus.PUBLIC_NOTICE: {Role.TOWNSHIP, Role.ADMIN},
    ItemStatus.COUNTY_CONFIRM: {Role.TOWNSHIP, Role.COUNTY, Role.ADMIN},
}


@pytest.mark.parametrize("status", list(ItemStatus), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_withdraw_roles_by_status(services: Services, status: ItemStatus, role: Role) -> None:
    scope = Scope(role, "gangkou", "gangkou", VILLAGE_A)
    facts = {"applicant_asked": "on"}
    with services.db.write() as db:
        item = _item(db, status, due_at=datetime(2026, 1, 1, tzinfo=UTC))
        offered = Action.WITHDRAW in {t.action for t in available(item, scope)}
        allowed = role in WITHDRAW_ROLES.get(status, set())
        assert offered == allowed, (status, role)
        if allowed:
            _apply(services, db, item, Action.WITHDRAW, scope=scope, reason="本人要求", facts=facts)
            assert item.status == ItemStatus.WITHDRAWN
            return
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, Action.WITHDRAW, scope=scope, reason="本人要求", facts=facts)
    is_open_application = status in WITHDRAW_ROLES
    assert refused.value.code == ("forbidden" if is_open_application else "illegal")
    assert item.status == status


@pytest.mark.parametrize("status", list(WITHDRAW_ROLES), ids=str)
@pytest.mark.parametrize("asked", [None, "", "off", "no", "0", "false", "  "])
def test_withdraw_needs_the_applicants_request_confirmed(
    services: Services, status: ItemStatus, asked: Any
) -> None:
    with services.db.write() as db:
        item = _item(db, status)
        facts = {} if asked is None else {"applicant_asked": asked}
        with pytest.raises(ProcedureError) as refused:
            _apply(services, db, item, Action.WITHDRAW, reason="本人电话要求撤回", facts=facts)
        assert refused.value.code == "missing_fact"
        assert refused.value.params["fact"] == "applicant_asked"
        assert item.status == status
        with pytest.raises(ProcedureError) as no_reason:
            _apply(services, db, item, Action.WITHDRAW, reason=" ", facts={"applicant_asked": "on"})
        assert no_reason.value.code == "reason_required" and item.status == status
        assert events_for(db, "queue_item", item.id or 0) == []


@pytest.mark.parametrize("status", list(WITHDRAW_ROLES), ids=str)
def test_withdraw_records_the_request_and_the_reason(
    services: Services, status: ItemStatus
) -> None:
    with services.db.write() as db:
        item = _item(db, status)
        _apply(
            services,
            db,
            item,
            Action.WITHDRAW,
            reason="户主11月26日来电要求撤回",
            facts={"applicant_asked": "on"},
        )
        events = events_for(db, "queue_item", item.id or 0)
    assert item.status == ItemStatus.WITHDRAWN and item.due_at is None
    assert [e.action for e in events] == ["procedure.withdraw"]
    assert reason_of(events[0], services.cipher) == "户主11月26日来电要求撤回"
    assert events[0].data["applicant_asked"] is True and events[0].data["from"] == status


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("reported", "due"),
    [
        ("2026-11-25", "2026-11-30"),  # Wed -> Thu, Fri, Mon
        ("2026-11-27", "2026-12-02"),  # Fri -> Mon, Tue, Wed
        ("2026-02-12", "2026-02-24"),  # Thu -> Fri 13, Sat 14 (worked), Spring Festival, Tue 24
        ("2026-02-13", "2026-02-25"),  # Fri -> Sat 14 (worked), Tue 24, Wed 25
        ("2026-09-30", "2026-10-10"),  # Wed -> National Day, Thu 8, Fri 9, Sat 10 (worked)
        ("2026-09-19", "2026-09-22"),  # Sat -> Sun 20 (worked), Mon 21, Tue 22
    ],
)
def test_township_deadline_counts_official_working_days(
    services: Services, reported: str, due: str
) -> None:
    with services.db.write() as db:
        item = _item(db, ItemStatus.VILLAGE_REVIEW)
        _apply(
            services, db, item, Action.VILLAGE_REPORT, now=_at(reported),
            facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
        )  # fmt: skip
    assert item.due_at is not None
    local = item.due_at.astimezone(SHANGHAI)
    assert local.date().isoformat() == due and (local.hour, local.minute) == (23, 59)


def test_unknown_year_falls_back_to_weekdays_with_a_warning(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    calendar = WorkdayCalendar(logging.getLogger("test.workdays"))
    with caplog.at_level(logging.WARNING, logger="test.workdays"), services.db.write() as db:
        item = _item(db, ItemStatus.VILLAGE_REVIEW)
        _apply(
            services, db, item, Action.VILLAGE_REPORT, now=_at("2031-01-03"), calendar=calendar,
            facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
        )  # fmt: skip
    assert item.due_at is not None
    assert item.due_at.astimezone(SHANGHAI).date().isoformat() == "2031-01-08"  # Fri -> Mon-Wed
    assert "no data for 2031" in caplog.text


def test_public_notice_lasts_seven_calendar_days_and_cannot_end_early(
    services: Services, clock: FakeClock
) -> None:
    with services.db.write() as db:
        item = _item(db, ItemStatus.TOWNSHIP_REVIEW)
        _apply(services, db, item, Action.START_NOTICE, now=_at("2026-09-28"))
        assert item.due_at == notice_ends(_at("2026-09-28"), 7)
        assert item.due_at.astimezone(SHANGHAI).isoformat() == "2026-10-05T23:59:59+08:00"
        for moment in (_at("2026-09-29"), _at("2026-10-05", 23)):
            with pytest.raises(ProcedureError) as refused:
                _apply(services, db, item, Action.END_NOTICE, now=moment)
            assert refused.value.code == "notice_running"
        _apply(services, db, item, Action.END_NOTICE, now=_at("2026-10-06", 8))
    assert item.status == ItemStatus.COUNTY_CONFIRM
    assert item.due_at is not None
    assert item.due_at.astimezone(SHANGHAI).date().isoformat() == "2026-10-21"  # decision_days=15


def test_objection_sends_the_item_back_to_township_review(services: Services) -> None:
    with services.db.write() as db:
        item = _item(db, ItemStatus.TOWNSHIP_REVIEW)
        _apply(services, db, item, Action.START_NOTICE, now=_at("2026-11-25"))
        _apply(
            services,
            db,
            item,
            Action.RECORD_OBJECTION,
            now=_at("2026-11-27"),
            reason="邻居反映有车",
        )
        events = events_for(db, "queue_item", item.id or 0)
    assert item.status == ItemStatus.TOWNSHIP_REVIEW
    assert item.due_at is not None
    assert item.due_at.astimezone(SHANGHAI).date().isoformat() == "2026-12-02"
    assert [e.action for e in events][-2:] == [
        "procedure.start_notice",
        "procedure.record_objection",
    ]
    assert reason_of(events[-1], services.cipher) == "邻居反映有车"


def test_whole_procedure_on_a_real_application(services: Services, clock: FakeClock) -> None:
    """A chat application walks submitted -> ... -> enrolled; its suggestion is filterable."""
    item = apply_by_chat(services, sender="proc-1")
    assert item.risk_codes is not None and ",01," in item.risk_codes
    village = Scope(Role.VILLAGE, "gangkou", "gangkou", VILLAGE_A)
    township = Scope(Role.TOWNSHIP, "gangkou", "gangkou", None)
    county = Scope(Role.COUNTY, "gangkou", None, None)
    steps: list[tuple[Scope, Action, dict[str, Any], str | None]] = [
        (village, Action.START_VILLAGE_REVIEW, {}, None),
        (
            village,
            Action.VILLAGE_REPORT,
            {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
            None,
        ),
        (township, Action.START_NOTICE, {}, None),
        (township, Action.END_NOTICE, {}, None),
        (county, Action.ENROL, {"risk_codes": ["01"], "helper": "艾蔚然"}, None),
    ]
    for scope, action, facts, reason in steps:
        if action is Action.END_NOTICE:
            clock.advance(days=9)
        with services.db.write() as db:
            fresh = db.get(QueueItem, item.id)
            assert fresh is not None
            assert action in {t.action for t in available(fresh, scope)}
            _apply(
                services, db, fresh, action, scope=scope, facts=facts, reason=reason, now=clock()
            )
    with services.db.read() as db:
        final = db.get(QueueItem, item.id)
        actions = [e.action for e in events_for(db, "queue_item", item.id or 0)]
    assert final is not None and final.status == ItemStatus.ENROLLED
    assert actions[0] == "application.submitted" and actions[-1] == "procedure.enrol"
    assert len(actions) == 6


def test_transitions_table_is_consistent() -> None:
    closed = {
        ItemStatus.ENROLLED,
        ItemStatus.NOT_ENROLLED,
        ItemStatus.WITHDRAWN,
        ItemStatus.MERGED,
        ItemStatus.DONE,
    }
    assert not any(t.source in closed for t in TRANSITIONS), "closed items never move"
    assert {t.target for t in TRANSITIONS if t.action is Action.DECLINE} == {
        ItemStatus.NOT_ENROLLED
    }
    assert all(t.reason_required for t in TRANSITIONS if t.target is ItemStatus.NOT_ENROLLED)
    assert timedelta(0) < notice_ends(_at("2026-01-01"), 7) - _at("2026-01-01")
