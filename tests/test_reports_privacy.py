"""Privacy of reports: anonymity leaves no link, the scope rule hides a complaint from the
village it concerns, lookups tell each asker no more than they may know, text stays text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock
from reports_support import (
    ID_NUMBER,
    PHONE,
    XSS,
    ReportWorld,
    complaint,
    make_world,
    named,
    tip,
)
from sqlalchemy import func, inspect, text
from sqlmodel import select

from bot import inbound
from intake.contacts import get_or_create_contact
from intake.reports import limits
from intake.reports.anonymity import (
    SCRUBBED_SENDER,
    RateLimited,
    file_from_chat,
    scrub_inbound,
)
from intake.reports.filing import ReportError
from intake.reports.lookup import Asker, Outcome, lookup
from intake.reports.models import Report
from intake.reports.procedure import Action, apply
from intake.reports.routing import visibility

CHAT = "700100200"


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> ReportWorld:
    return make_world(database_url, clock)


def _from_chat(world: ReportWorld, sender: str = CHAT, **changes: object) -> Report:
    with world.db.write() as session:
        return file_from_chat(
            session,
            tip(**changes),
            channel="telegram",
            sender=sender,
            policy=world.policy,
            rules=world.rules,
            cipher=world.cipher,
            calendar=world.calendar,
            new_code=world.new_code,
            now=world.clock(),
        )


def _every_cell(world: ReportWorld) -> list[tuple[str, str]]:
    """``(table, cell as text)`` for every non-null cell of every table."""
    cells: list[tuple[str, str]] = []
    with world.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            query = text(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the schema)
            for row in conn.execute(query):
                cells += [(table, str(v)) for v in row if v is not None]
    return cells


def test_an_anonymous_chat_report_leaves_no_link_to_the_chat(world: ReportWorld) -> None:
    filed_at = world.clock.advance(hours=5, minutes=13, seconds=7)  # 14:43:07 in Beijing
    with world.db.write() as session:
        contact = get_or_create_contact(session, "telegram", CHAT, language="zh_CN")
        rows = []
        for n, typed in enumerate(("线索", "柏岭村", "他家老人大病住院")):
            row = inbound.store(
                session,
                channel="telegram",
                external_id=f"u-{n}",
                sender=CHAT,
                payload={"text": typed, "chat": CHAT},
                cipher=world.cipher,
                now=filed_at,
                sequence=1000 + n,
            )
            assert row is not None
            row.status, row.processed_at = "processed", filed_at
            row.replies = [{"text": "编号 XXXX"}]
            rows.append(row)
        session.flush()
    report = _from_chat(world)
    with world.db.write() as session:
        stored = [session.get(inbound.InboundMessage, r.id) for r in rows]
        assert scrub_inbound([r for r in stored if r is not None], world.cipher) == 3
    assert report.contact_id is None and report.phone_cipher is None
    links = {CHAT, f"contact:{contact.id}", PHONE, report.tracking_code, filed_at.isoformat()[:19]}
    naive = filed_at.replace(tzinfo=None)
    for table, cell in _every_cell(world):
        if table == "contact":
            continue  # the chat's own contact row, which the report does not point to
        for link in links:
            assert link not in cell or (table == "report" and link == report.tracking_code), (
                table,
                link,
            )
        assert str(naive)[:19] not in cell, (table, "the minute of filing")
    with world.db.read() as session:
        for row in session.exec(select(inbound.InboundMessage)):
            assert row.sender == SCRUBBED_SENDER and row.sequence is None
            assert inbound.payload_of(row, world.cipher) == {} and row.replies == []


def test_anonymous_reports_are_limited_per_chat_and_day_then_forgotten(
    world: ReportWorld,
) -> None:
    for _ in range(world.rules.anonymous_per_chat_per_day):
        _from_chat(world)
    with pytest.raises(RateLimited, match=r"请明天再来.* / .*tomorrow"):
        _from_chat(world)
    _from_chat(world, sender="another-chat")  # another chat is not held back
    world.clock.advance(days=1)
    _from_chat(world)
    with world.db.read() as session:
        left = session.exec(select(func.count()).select_from(limits.ReportRate)).one()
    assert left == 1  # yesterday's counters are gone once anyone files again


def test_a_named_report_cannot_go_through_the_anonymous_path(world: ReportWorld) -> None:
    with pytest.raises(ValueError, match="anonymous"), world.db.write() as session:
        file_from_chat(
            session,
            tip(reporter=named()),
            channel="telegram",
            sender=CHAT,
            policy=world.policy,
            rules=world.rules,
            cipher=world.cipher,
            calendar=world.calendar,
            new_code=world.new_code,
            now=world.clock(),
        )


def _seen(world: ReportWorld, user: str) -> set[int]:
    scope = world.users[user].scope()
    with world.db.read() as session:
        by_sql = {r.id or 0 for r in session.exec(select(Report).where(visibility(scope).sql))}
        every = list(session.exec(select(Report)))
    assert by_sql == {r.id or 0 for r in every if visibility(scope)(r)}, "SQL and check agree"
    return by_sql


def test_the_scope_rule_routes_past_the_people_concerned(world: ReportWorld) -> None:
    village_tip = world.file(tip()).id
    hidden_tip = world.file(tip(village_told=False)).id
    about_cadre = world.file(complaint("cadre")).id
    about_committee = world.file(complaint("committee")).id
    about_township = world.file(complaint("township")).id
    other_village = world.file(tip(village_code="gangkou-hengling")).id
    everything = {village_tip, hidden_tip, about_cadre, about_committee, about_township}
    assert _seen(world, "bailing") == {village_tip}
    assert _seen(world, "hengling") == {other_village}
    assert _seen(world, "township") == (everything | {other_village}) - {about_township}
    assert _seen(world, "operator") == _seen(world, "township")
    assert _seen(world, "county") == everything | {other_village}
    assert _seen(world, "admin") == everything | {other_village}
    assert _seen(world, "boluo_county") == set()


def test_a_village_cadre_cannot_count_or_find_a_complaint_about_the_village(
    world: ReportWorld,
) -> None:
    report = world.file(complaint("cadre"))
    scope = world.users["bailing"].scope()
    with world.db.read() as session:
        counted = session.exec(
            select(func.count()).select_from(Report).where(visibility(scope).sql)
        ).one()
        by_code = session.exec(
            select(Report).where(
                visibility(scope).sql, Report.tracking_code == report.tracking_code
            )
        ).first()
        by_name = session.exec(
            select(Report).where(
                visibility(scope).sql,
                Report.subject_name_hash == world.cipher.lookup_hash("李支书"),
            )
        ).first()
    assert (counted, by_code, by_name) == (0, None, None)


def _answered(world: ReportWorld, report: Report) -> Report:
    user = world.users["township" if report.routed_level == "township" else "bailing"]
    with world.db.write() as session:
        row = session.get(Report, report.id)
        assert row is not None
        for action, facts in (
            (Action.ACCEPT, {"assignee_id": user.id}),
            (Action.ANSWER, {"answer": "已入户核实，纳入监测。"}),
        ):
            apply(
                session, row, action, user=user, cipher=world.cipher, now=world.clock(), facts=facts
            )
        return row


def _look(
    world: ReportWorld, code: str, sender: str = "stranger", contact: int | None = None, **kw: str
):  # type: ignore[no-untyped-def]
    with world.db.write() as session:
        return lookup(
            session,
            code,
            asker=Asker("telegram", sender, contact),
            rules=world.rules,
            cipher=world.cipher,
            now=world.clock(),
            **kw,
        )


def test_another_chat_sees_state_and_next_step_but_not_the_answer(world: ReportWorld) -> None:
    with world.db.write() as session:
        contact = get_or_create_contact(session, "telegram", CHAT, language="zh_CN")
        session.flush()
    report = _answered(world, world.file(tip(reporter=named(contact.id))))
    other = _look(world, report.tracking_code)
    assert other.outcome is Outcome.FOUND and other.view is not None
    assert (other.view.state_text, other.view.next_text) == (
        "report.state.answered",
        "report.next.answered",
    )
    assert other.view.detail is None and not other.view.full
    shown = json.dumps(other.view.__dict__, default=str, ensure_ascii=False)
    assert "王小红" not in shown and PHONE not in shown and "张大山" not in shown
    own = _look(world, report.tracking_code, CHAT, contact.id)
    assert own.view is not None and own.view.detail == "已入户核实，纳入监测。"
    wrong = _look(world, report.tracking_code, id_ending="1234")
    assert wrong.view is not None and wrong.view.detail is None and wrong.view.id_refused
    right = _look(world, report.tracking_code, id_ending=ID_NUMBER[-4:].lower())
    assert right.view is not None and right.view.detail == "已入户核实，纳入监测。"


def test_wrong_id_endings_shut_the_answer_for_the_day(world: ReportWorld) -> None:
    report = _answered(world, world.file(tip(reporter=named())))
    for n in range(world.rules.id_attempts_per_report_per_day):
        _look(world, report.tracking_code, sender=f"guesser-{n}", id_ending=f"{n:04d}")
    locked = _look(world, report.tracking_code, sender="guesser-x", id_ending=ID_NUMBER[-4:])
    assert locked.view is not None and locked.view.detail is None
    world.clock.advance(days=1)
    opened = _look(world, report.tracking_code, sender="guesser-y", id_ending=ID_NUMBER[-4:])
    assert opened.view is not None and opened.view.detail is not None


def test_an_anonymous_report_is_followed_with_its_code_alone(world: ReportWorld) -> None:
    report = _answered(world, world.file(tip()))
    found = _look(world, report.tracking_code)
    assert found.view is not None and found.view.detail == "已入户核实，纳入监测。"


def test_a_merged_report_shows_the_progress_it_shares(world: ReportWorld) -> None:
    first, second = world.file(tip()), world.file(tip())
    with world.db.write() as session:
        row = session.get(Report, second.id)
        assert row is not None
        apply(
            session,
            row,
            Action.MERGE,
            user=world.users["bailing"],
            cipher=world.cipher,
            now=world.clock(),
            facts={"into": first.id},
        )
    _answered(world, first)
    view = _look(world, second.tracking_code).view
    assert view is not None and view.code == second.tracking_code
    assert view.state_text == "report.state.answered" and view.detail is not None


def test_lookups_are_throttled_per_chat(world: ReportWorld) -> None:
    report = world.file(tip())
    for _ in range(world.rules.lookups_per_chat_per_hour):
        assert _look(world, report.tracking_code).outcome is Outcome.FOUND
    assert _look(world, report.tracking_code).outcome is Outcome.THROTTLED
    assert _look(world, "AAAA-AAAA", sender="other").outcome is Outcome.NOT_FOUND
    world.clock.advance(hours=1)
    assert _look(world, report.tracking_code).outcome is Outcome.FOUND


def test_free_text_comes_back_exactly_as_typed(world: ReportWorld) -> None:
    report = world.file(tip(text=XSS, subject_name="张大山", reporter=named()))
    assert world.cipher.decrypt(report.text_cipher) == XSS
    with world.db.write() as session:
        row = session.get(Report, report.id)
        assert row is not None
        user = world.users["bailing"]
        apply(
            session,
            row,
            Action.ACCEPT,
            user=user,
            cipher=world.cipher,
            now=world.clock(),
            facts={"assignee_id": user.id},
        )
        apply(
            session,
            row,
            Action.ANSWER,
            user=user,
            cipher=world.cipher,
            now=world.clock(),
            facts={"answer": XSS},
        )
    view = _look(world, report.tracking_code, id_ending=ID_NUMBER[-4:]).view
    assert view is not None and view.detail == XSS


@pytest.mark.parametrize(
    ("changes", "zh"),
    [
        ({"kind": "gossip"}, "请选择反映的类型"),
        ({"subject": "cadre"}, "请从按钮里选择反映的对象"),
        ({"text": "  "}, "请写下发生了什么"),
        ({"text": "长" * 2001}, "请写下发生了什么"),
        ({"village_code": "nowhere"}, "请从按钮里选择村"),
        ({"subject_name": "名" * 65}, "名字太长了"),
    ],
)
def test_bad_drafts_get_a_polite_bilingual_answer(
    world: ReportWorld, changes: dict[str, object], zh: str
) -> None:
    with pytest.raises(ReportError, match=f"{zh}.* / [A-Z]"):
        world.file(tip(**changes))


@pytest.mark.parametrize(
    ("reporter", "zh"),
    [
        ({"phone": "12"}, "座机号码"),
        ({"name": " "}, "您的姓名"),
        ({"id_number": "110105194912310021"}, "身份证号码好像不对"),
    ],
)
def test_bad_reporter_details_get_a_polite_bilingual_answer(
    world: ReportWorld, reporter: dict[str, str], zh: str
) -> None:
    base = named()
    fixed = type(base)(**(base.__dict__ | reporter))
    with pytest.raises(ReportError, match=zh):
        world.file(tip(reporter=fixed))


def test_the_filing_event_of_an_anonymous_report_has_only_the_day(world: ReportWorld) -> None:
    world.clock.advance(hours=7)
    report = world.file(tip())
    with world.db.read() as session:
        from intake.reports.models import history

        event = history(session, report.id or 0)[0]
    assert event.actor == "anonymous" and "contact" not in json.dumps(event.data)
    assert event.at == datetime(2026, 11, 24, 16, tzinfo=UTC)
    assert world.clock() - event.at > timedelta(hours=9)
