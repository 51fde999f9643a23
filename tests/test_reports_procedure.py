"""The report procedure on both databases: every move, every refused one, merge, objection."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import FakeClock
from reports_support import OTHER_VILLAGE, ReportWorld, complaint, make_world, named, tip

from intake.reports.models import Report, ReportState, history, merged_with
from intake.reports.procedure import (
    TRANSITIONS,
    Action,
    ProcedureError,
    apply,
    next_due,
    object_to,
    overdue,
)

R = ReportState


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> ReportWorld:
    return make_world(database_url, clock)


def act(
    world: ReportWorld, report: Report, action: Action, user: str = "bailing", **kw: Any
) -> Report:
    with world.db.write() as session:
        current = session.get(Report, report.id)
        assert current is not None
        done = apply(
            session,
            current,
            action,
            user=world.users[user],
            cipher=world.cipher,
            now=world.clock(),
            **kw,
        )
        return done.report


def walk(world: ReportWorld, report: Report, user: str = "bailing") -> Report:
    """received → accepted → investigating → answered."""
    report = act(world, report, Action.ACCEPT, user, facts={"assignee_id": world.users[user].id})
    report = act(world, report, Action.INVESTIGATE, user)
    return act(world, report, Action.ANSWER, user, facts={"answer": "已核实，下周入户走访。"})


def test_a_tip_is_received_with_working_day_deadlines(world: ReportWorld) -> None:
    report = world.file(tip())
    # Filed on Wednesday 2026-11-25: 3 working days → Monday 30 Nov; 15 → 16 Dec.
    assert report.state == R.RECEIVED and report.received_on == date(2026, 11, 25)
    assert (report.first_response_due, report.answer_due) == (
        date(2026, 11, 30),
        date(2026, 12, 16),
    )
    assert not report.due_estimated
    assert next_due(report) == ("first_response", date(2026, 11, 30))


def test_the_whole_path_to_closed_is_in_the_history(world: ReportWorld) -> None:
    report = walk(world, world.file(tip()))
    assert report.first_response_on == date(2026, 11, 25) and report.answered_on is not None
    assert world.cipher.decrypt(report.answer_cipher or "") == "已核实，下周入户走访。"
    assert next_due(report) is None
    report = act(world, report, Action.CLOSE)
    assert report.state == R.CLOSED and report.closed_on == date(2026, 11, 25)
    with world.db.read() as session:
        actions = [e.action for e in history(session, report.id or 0)]
    assert actions == [
        "report.filed",
        "report.accept",
        "report.investigate",
        "report.answer",
        "report.close",
    ]


def test_an_answer_may_come_straight_after_acceptance(world: ReportWorld) -> None:
    report = world.file(tip())
    report = act(world, report, Action.ACCEPT, facts={"assignee_id": world.users["bailing"].id})
    report = act(world, report, Action.ANSWER, facts={"answer": "这是政策答复。"})
    assert report.state == R.ANSWERED


def test_every_move_outside_the_table_is_refused(world: ReportWorld) -> None:
    report = world.file(tip())
    facts = {"answer": "x", "referred_to": "y", "into": report.id, "assignee_id": 1}
    refused = 0
    for state in ReportState:
        for action in Action:
            if any(t.action is action and state in t.sources for t in TRANSITIONS):
                continue
            with world.db.write() as session:
                row = session.get(Report, report.id)
                assert row is not None
                row.state = state.value
            with pytest.raises(ProcedureError, match="不能进行此操作"):
                act(world, report, action, facts=facts, reason="r")
            refused += 1
    assert refused == len(ReportState) * len(Action) - sum(len(t.sources) for t in TRANSITIONS)


def test_not_ours_names_where_it_went(world: ReportWorld) -> None:
    report = world.file(tip())
    with pytest.raises(ProcedureError, match="referred_to"):
        act(world, report, Action.REFER)
    report = act(world, report, Action.REFER, facts={"referred_to": "县医疗保障局"})
    assert (report.state, report.referred_to) == (R.REFERRED, "县医疗保障局")
    assert report.first_response_on is not None and report.closed_on is not None


def test_unfounded_needs_a_reason_kept_encrypted(world: ReportWorld) -> None:
    report = world.file(tip())
    with pytest.raises(ProcedureError, match="理由"):
        act(world, report, Action.UNFOUNDED, reason="  ")
    report = act(world, report, Action.UNFOUNDED, reason="入户核实，该户收入稳定。")
    with world.db.read() as session:
        event = history(session, report.id or 0)[-1]
    assert event.reason is not None and "收入" not in event.reason
    assert world.cipher.unseal(event.reason) == "入户核实，该户收入稳定。"


def test_acceptance_needs_a_person_who_may_handle_it(world: ReportWorld) -> None:
    report = world.file(complaint())  # about bailing's cadre: the township's
    with pytest.raises(ProcedureError, match="不能是被反映的那一级"):
        act(
            world,
            report,
            Action.ACCEPT,
            "township",
            facts={"assignee_id": world.users["bailing"].id},
        )
    report = act(
        world, report, Action.ACCEPT, "township", facts={"assignee_id": world.users["township"].id}
    )
    assert report.assignee_id == world.users["township"].id


@pytest.mark.parametrize("user", ["bailing", "hengling", "operator", "boluo_county"])
def test_those_who_may_not_act_on_a_complaint_are_refused(world: ReportWorld, user: str) -> None:
    report = world.file(complaint())
    with pytest.raises(ProcedureError, match="您不能办理"):
        act(world, report, Action.REFER, user, facts={"referred_to": "县纪委"})


def test_the_township_may_take_over_its_villages_report_but_not_the_reverse(
    world: ReportWorld,
) -> None:
    village_level = world.file(tip())
    act(world, village_level, Action.REFER, "township", facts={"referred_to": "县民政局"})
    township_level = world.file(tip(village_told=False))
    with pytest.raises(ProcedureError):
        act(world, township_level, Action.REFER, "bailing", facts={"referred_to": "县民政局"})


def test_merged_reports_are_linked_both_ways_and_all_hear_the_answer(world: ReportWorld) -> None:
    first, second, third = (world.file(tip(text=f"第{n}封信")) for n in range(3))
    act(world, second, Action.MERGE, facts={"into": third.id})
    act(world, third, Action.MERGE, facts={"into": first.id})  # second follows third
    with world.db.read() as session:
        target = session.get(Report, first.id)
        assert target is not None
        assert sorted(r.id or 0 for r in merged_with(session, target)) == [second.id, third.id]
        folded = session.get(Report, second.id)
        assert folded is not None and folded.state == R.MERGED
        assert [r.id for r in merged_with(session, folded)] == [first.id]
        target_events = [e.data for e in history(session, first.id or 0)]
    assert {"from": second.tracking_code} in target_events
    assert {"from": third.tracking_code} in target_events
    with world.db.write() as session:
        current = session.get(Report, first.id)
        assert current is not None
        user = world.users["bailing"]
        apply(
            session,
            current,
            Action.ACCEPT,
            user=user,
            cipher=world.cipher,
            now=world.clock(),
            facts={"assignee_id": user.id},
        )
        done = apply(
            session,
            current,
            Action.ANSWER,
            user=user,
            cipher=world.cipher,
            now=world.clock(),
            facts={"answer": "已合并办理。"},
        )
    assert [r.id for r in done.notify] == [first.id, second.id, third.id]


@pytest.mark.parametrize("case", ["self", "other_unit", "finished", "missing"])
def test_a_merge_target_must_be_another_open_report_of_the_same_place(
    world: ReportWorld, case: str
) -> None:
    report = world.file(tip())
    if case == "self":
        into = report.id
    elif case == "other_unit":
        into = world.file(tip(village_code=OTHER_VILLAGE)).id
    elif case == "finished":
        into = act(world, world.file(tip()), Action.REFER, facts={"referred_to": "县民政局"}).id
    else:
        into = 999_999
    with pytest.raises(ProcedureError, match="只能并入"):
        act(world, report, Action.MERGE, facts={"into": into})


def test_a_village_report_cannot_be_merged_into_a_complaint_about_the_village(
    world: ReportWorld,
) -> None:
    village_tip = world.file(tip())
    about_cadre = world.file(complaint())
    with pytest.raises(ProcedureError, match="只能并入"):
        act(world, village_tip, Action.MERGE, "township", facts={"into": about_cadre.id})


def _object(world: ReportWorld, report: Report, reason: str = "答复不属实。") -> Report:
    with world.db.write() as session:
        current = session.get(Report, report.id)
        assert current is not None
        return object_to(
            session,
            current,
            reason=reason,
            rules=world.rules,
            calendar=world.calendar,
            cipher=world.cipher,
            now=world.clock(),
        )


def test_one_objection_reopens_the_report_one_level_up(world: ReportWorld) -> None:
    report = walk(world, world.file(tip()))
    world.clock.advance(days=5)
    report = _object(world, report)
    assert (report.state, report.routed_level, report.route_reason) == (
        R.RECEIVED,
        "township",
        "objection",
    )
    assert report.answer_cipher is None and report.assignee_id is None
    assert report.clock_from == date(2026, 11, 30) and report.first_response_due == date(
        2026, 12, 3
    )
    with pytest.raises(ProcedureError, match="您不能办理"):  # the village no longer holds it
        act(world, report, Action.ACCEPT, facts={"assignee_id": world.users["bailing"].id})
    report = walk(world, report, "township")
    with pytest.raises(ProcedureError, match="已不能再提出异议"):
        _object(world, report)


def test_an_objection_after_the_window_or_before_an_answer_is_refused(world: ReportWorld) -> None:
    unanswered = world.file(tip())
    with pytest.raises(ProcedureError, match="已不能再提出异议"):
        _object(world, unanswered)
    answered = walk(world, world.file(tip()))
    world.clock.advance(days=world.rules.objection_days + 1)
    with pytest.raises(ProcedureError, match="已不能再提出异议"):
        _object(world, answered)


def test_an_objection_to_a_complaint_about_the_township_stays_with_the_county(
    world: ReportWorld,
) -> None:
    report = walk(world, world.file(complaint("township")), "county")
    report = _object(world, report)
    assert report.routed_level == "county"


def test_an_anonymous_objection_is_not_stamped_with_its_own_time(world: ReportWorld) -> None:
    report = walk(world, world.file(tip()))
    world.clock.advance(hours=3, minutes=17)
    _object(world, report)
    with world.db.read() as session:
        events = history(session, report.id or 0)
    filed, answer, objection = events[0], events[-2], events[-1]
    assert filed.at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 00:00 in Beijing
    assert (objection.action, objection.actor) == ("report.objected", "anonymous")
    # Not the minute it came (the chat's), but the answer's: the history keeps its order.
    assert objection.at == answer.at != world.clock()


def test_deadlines_in_a_year_the_calendar_does_not_know_are_estimated(
    database_url: str,
) -> None:
    world = make_world(database_url, FakeClock(datetime(2099, 3, 4, 2, 0, tzinfo=UTC)))
    report = world.file(tip())
    assert report.due_estimated


def test_overdue_reports_are_listed_oldest_deadline_first(world: ReportWorld) -> None:
    late = world.file(tip())
    world.clock.advance(days=1)
    later = world.file(tip())
    answered = walk(world, world.file(tip()))
    reports = [later, answered, late]
    assert overdue(reports, date(2026, 11, 30)) == []
    assert [r.id for r in overdue(reports, date(2026, 12, 2))] == [late.id, later.id]


def test_a_named_reporter_is_kept_encrypted_with_search_hashes(world: ReportWorld) -> None:
    report = world.file(tip(reporter=named()))
    assert not report.anonymous and report.phone_cipher and "138" not in report.phone_cipher
    assert report.phone_hash == world.cipher.lookup_hash("13800138000")
    assert report.subject_name_hash == world.cipher.lookup_hash("张大山")
