"""The jobs table and durable timers over a fake clock: month ends, holidays, outages, races.

Every test runs on SQLite and on PostgreSQL. The calendar is the real one (chinese-calendar):
December 2026's first working day is Tue 1 Dec; October 2026's is Thu 8 Oct (National Day);
February 2026's month ends on Sat 28 Feb, a working day in exchange for the Spring Festival.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from helpers_support import cipher, migrated, policies
from sqlmodel import col, select

from bot.app import _schedule, dispatcher_for
from bot.services import Services
from intake.contacts import Contact
from intake.db import Database
from intake.helpers.assignments import assign_helper, create_helper
from intake.helpers.models import Helper, VisitMode
from intake.helpers.policy import helpers_policy
from intake.helpers.reminders import Round, helper_reminder, helper_reminders
from intake.helpers.visits import record_visit
from intake.households import Household
from intake.users import Role, User
from intake.workdays import SHANGHAI, WorkdayCalendar
from notifications.jobs import JOBS, JobContext, fire_timers, install, plan_timers
from notifications.outbox import OutboxMessage
from notifications.timers import Timer, TimerStatus, fire_due, schedule


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def context(db: Database, clock: Clock, worker: str = "w1") -> JobContext:
    return JobContext(db=db, policies=policies(), calendar=WorkdayCalendar(), clock=clock,
                      worker=worker, cipher=cipher())  # fmt: skip


def populate(db: Database, helpers: int, per_helper: int, *, linked: int | None = None) -> None:
    """``helpers`` helpers in 柏岭村, each with ``per_helper`` households; the first
    ``linked`` (default all) have a chat linked on Telegram."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    linked = helpers if linked is None else linked
    with db.write() as session:
        for h in range(helpers):
            helper = create_helper(session, cipher(), name=f"帮扶{h}", phone=f"139{h:08d}",
                                   region_code="gangkou", township_code="gangkou", actor="t",
                                   now=now)  # fmt: skip
            if h < linked:
                helper.chat_channel, helper.chat_external_id = "telegram", f"{9000 + h}"
            for k in range(per_helper):
                household = Household(id_hash=f"h{h}-{k}", id_cipher="x", head_name=f"户{h}-{k}",
                                      village_code="gangkou-bailing")  # fmt: skip
                session.add(household)
                session.flush()
                ids = {"household_id": int(household.id or 0), "helper_id": int(helper.id or 0)}
                assign_helper(session, cipher(), **ids, actor="t", reason="r", now=now)


def outbox(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def timers(db: Database, kind: str | None = None) -> list[Timer]:
    with db.read() as session:
        query = select(Timer).order_by(col(Timer.id))
        if kind:
            query = query.where(Timer.kind == kind)
        return list(session.exec(query))


def run_month_start(ctx: JobContext, clock: Clock, at: datetime) -> None:
    clock.now = at
    plan_timers(ctx)
    fire_timers(ctx)  # the region's plan fans out to helper timers ...
    fire_timers(ctx)  # ... which the next tick fires


def test_one_message_per_helper_on_the_first_working_day(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=3, per_helper=2)
    clock = Clock(beijing(2026, 11, 30, 17, 0))
    ctx = context(db, clock)
    plan_timers(ctx)
    assert fire_timers(ctx).fired == 0  # nothing for December is due before 1 Dec 09:00
    run_month_start(ctx, clock, beijing(2026, 12, 1, 9, 0, 30))
    messages = outbox(db)
    assert sorted(m.recipient for m in messages) == ["9000", "9001", "9002"]
    first = next(m for m in messages if m.recipient == "9000")
    assert first.payload["text"].startswith("帮扶0您好！2026年12月请走访以下2户")
    assert first.payload["buttons"][0]["data"].startswith("visit:")
    run_month_start(ctx, clock, beijing(2026, 12, 1, 9, 30))  # later ticks add nothing
    assert len(outbox(db)) == 3


def test_october_waits_for_the_end_of_national_day(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=1, per_helper=1)
    clock = Clock(beijing(2026, 10, 1, 9, 0))
    ctx = context(db, clock)
    for day in range(1, 8):  # 1-7 Oct is the National Day holiday
        run_month_start(ctx, clock, beijing(2026, 10, day, 10, 0))
    assert outbox(db) == []
    run_month_start(ctx, clock, beijing(2026, 10, 8, 9, 5))
    assert len(outbox(db)) == 1


def test_the_second_reminder_lists_only_open_households(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=1, per_helper=3)
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    ctx = context(db, clock)
    run_month_start(ctx, clock, clock.now)
    with db.write() as session:
        households = list(session.exec(select(Household).order_by(col(Household.id))))
        record_visit(session, cipher(), household_id=int(households[0].id or 0), helper_id=1,
                     period="2026-12", visited_on=date(2026, 12, 3), mode=VisitMode.IN_PERSON,
                     actor="helper:1", now=clock.now)  # fmt: skip
    # Dec 2026's last working day is Thu 31 Dec; 3 working days before it is Mon 28 Dec.
    run_month_start(ctx, clock, beijing(2026, 12, 28, 8, 59))
    assert len(outbox(db)) == 1
    run_month_start(ctx, clock, beijing(2026, 12, 28, 9, 1))
    second = outbox(db)[-1]
    assert second.payload["text"].startswith("帮扶0您好！2026年12月还有2户没有走访记录")
    assert "户0-0" not in second.payload["text"]


def test_february_ends_on_an_adjusted_saturday_after_the_spring_festival(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=1, per_helper=1)
    clock = Clock(beijing(2026, 2, 2, 9, 0))  # Mon 2 Feb, the month's first working day
    ctx = context(db, clock)
    run_month_start(ctx, clock, clock.now)
    # Working days at month end: 24, 25, 26, 27 and Sat 28 Feb (调休); 3 before the last: 25th.
    second = next(t for t in timers(db) if t.kind == "plan.second")
    assert second.due_at.astimezone(SHANGHAI) == beijing(2026, 2, 25, 9, 0)


def test_a_restart_in_the_middle_of_the_fan_out_loses_and_doubles_nothing(
    database_url: str,
) -> None:
    db = migrated(database_url)
    populate(db, helpers=120, per_helper=1)
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    ctx = context(db, clock, "first")
    plan_timers(ctx)
    fire_timers(ctx, max_batches=1)  # the plan fans out; some helpers' timers fire
    fire_timers(ctx, max_batches=1)
    sent_before = len(outbox(db))
    assert 0 < sent_before < 120
    db.dispose()  # the process dies; a new one starts on the same database
    restarted = migrated(database_url)
    again = context(restarted, clock, "second")
    plan_timers(again)
    fire_timers(again)
    recipients = Counter(m.recipient for m in outbox(restarted))
    assert len(recipients) == 120 and set(recipients.values()) == {1}


def test_a_crash_inside_a_batch_rolls_the_whole_batch_back(database_url: str) -> None:
    db = migrated(database_url)
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with db.write() as session:
        schedule(session, [(f"s{i}", "2026-12", "test", now, {}) for i in range(5)])
    calls: list[str] = []

    def dies_on_third(session, timer, at):  # type: ignore[no-untyped-def]
        calls.append(timer.subject)
        if len(calls) == 3:
            raise SystemExit("killed")  # not an Exception: the process goes down
        return None

    with pytest.raises(SystemExit):
        fire_due(db, {"test": dies_on_third}, worker="w", now=now, staleness=lambda t: timedelta(1))
    assert {t.status for t in timers(db)} == {TimerStatus.PENDING}
    report = fire_due(db, {"test": lambda s, t, at: None}, worker="w2", now=now,
                      staleness=lambda t: timedelta(days=1))  # fmt: skip
    assert report.fired == 5


def test_a_failing_handler_fails_its_timer_only(database_url: str) -> None:
    db = migrated(database_url)
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with db.write() as session:
        schedule(session, [("a", "2026-12", "test", now, {}), ("b", "2026-12", "test", now, {})])

    def bad_a(session, timer, at):  # type: ignore[no-untyped-def]
        if timer.subject == "a":
            raise ValueError("boom")
        return "ok"

    report = fire_due(db, {"test": bad_a}, worker="w", now=now, staleness=lambda t: timedelta(1))
    assert (report.fired, report.failed) == (1, 1)
    assert [(t.subject, t.status, t.note) for t in timers(db)] == [
        ("a", "failed", "ValueError"), ("b", "fired", "ok")]  # fmt: skip


def test_a_week_down_skips_stale_fires_with_a_note(database_url: str) -> None:
    """Down from 30 Nov to 8 Dec: December's first reminder (due 1 Dec 09:00) is 7 days
    late, past the 72-hour window: skipped with a note, and nothing is sent."""
    db = migrated(database_url)
    populate(db, helpers=2, per_helper=1)
    clock = Clock(beijing(2026, 11, 30, 12, 0))
    ctx = context(db, clock)
    plan_timers(ctx)
    run_month_start(ctx, clock, beijing(2026, 12, 8, 10, 0))
    assert outbox(db) == []
    plans = timers(db, "plan.first")
    plan = next(t for t in plans if t.subject == "region:gangkou" and t.period == "2026-12")
    assert plan.status == TimerStatus.SKIPPED
    assert "due 2026-12-01T01:00:00+00:00" in (plan.note or "")


def test_a_shorter_outage_fires_missed_timers_once_in_working_hours(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=2, per_helper=1)
    clock = Clock(beijing(2026, 11, 30, 12, 0))
    ctx = context(db, clock)
    plan_timers(ctx)
    run_month_start(ctx, clock, beijing(2026, 12, 2, 20, 0))  # back late in the evening
    run_month_start(ctx, clock, beijing(2026, 12, 3, 9, 0))
    sent = outbox(db)
    assert len(sent) == 2
    assert all(m.next_attempt_at == beijing(2026, 12, 3, 9, 0) for m in sent)  # not at night


def test_unreachable_helpers_are_listed_for_the_township(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=3, per_helper=1, linked=1)
    with db.write() as session:
        session.add(Contact(channel="telegram", external_id="9000", stopped_at=datetime.now(UTC)))
        session.add(User(username="tw", display_name="乡", password_hash="x", role=Role.TOWNSHIP,
                         region_code="gangkou", township_code="gangkou",
                         chat_channel="telegram", chat_external_id="555"))  # fmt: skip
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    run_month_start(context(db, clock), clock, clock.now)
    (message,) = outbox(db)
    assert message.recipient == "555"
    text = message.payload["text"]
    assert text.startswith("2026年12月有3位帮扶责任人收不到走访提醒")
    assert "帮扶0：已屏蔽机器人" in text and "帮扶1：尚未绑定聊天账号" in text
    assert "139" not in text  # no phone numbers


def township_overdue(db: Database) -> list[OutboxMessage]:
    """The township's ladder messages (it also hears of unreachable helpers)."""
    return [m for m in outbox(db) if (m.dedupe_key or "").startswith("overdue:township:")]


def test_overdue_visits_climb_to_the_village_then_the_township(database_url: str) -> None:
    db = migrated(database_url)
    populate(db, helpers=1, per_helper=2, linked=0)
    with db.write() as session:
        for role, village in ((Role.VILLAGE, "gangkou-bailing"), (Role.TOWNSHIP, None)):
            user = User(username=role.value, display_name="x", password_hash="x", role=role,
                        region_code="gangkou", township_code="gangkou", village_code=village,
                        chat_channel="telegram", chat_external_id=f"u-{role.value}")  # fmt: skip
            session.add(user)
        record_visit(session, cipher(), household_id=1, helper_id=1, period="2026-11",
                     visited_on=date(2026, 11, 20), mode=VisitMode.PHONE, actor="t",
                     now=datetime(2026, 11, 20, tzinfo=UTC))  # fmt: skip
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    ctx = context(db, clock)
    run_month_start(ctx, clock, clock.now)
    village = [m for m in outbox(db) if m.recipient == "u-village"]
    assert len(village) == 1 and "2026年11月有1户逾期未走访" in village[0].payload["text"]
    assert "户0-1（柏岭村），帮扶责任人：帮扶0" in village[0].payload["text"]
    run_month_start(ctx, clock, beijing(2026, 12, 3, 9, 30))  # the village's 3rd working day
    assert township_overdue(db) == []
    run_month_start(ctx, clock, beijing(2026, 12, 4, 9, 30))  # still open after 3 working days
    (message,) = township_overdue(db)
    assert message.payload["text"].startswith("2026年11月有1户逾期未走访，村级催办后仍未完成")


def test_two_engines_on_postgresql_fire_one_month_once(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("two engines racing on one PostgreSQL schema")
    first, second = migrated(database_url), Database(database_url)
    populate(first, helpers=300, per_helper=1)
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    contexts = [context(first, clock, "a"), context(second, clock, "b")]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(ctx: JobContext) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                plan_timers(ctx)
                fire_timers(ctx)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    recipients = Counter(m.recipient for m in outbox(first))
    assert len(recipients) == 300 and set(recipients.values()) == {1}  # 0 missed, 0 doubled
    fired_by = Counter(t.fired_by for t in timers(first, "reminder.first"))
    assert sum(fired_by.values()) == 300


def test_the_jobs_table_installs_ticks_into_apscheduler(database_url: str) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    db = migrated(database_url)
    scheduler = BackgroundScheduler()
    install(scheduler, context(db, Clock(beijing(2026, 12, 1, 9, 0))))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {job.name for job in JOBS}
    assert set(jobs) == {"timers.plan", "timers.fire", "digest.cadres", "reviews.open"}
    assert jobs["timers.fire"].trigger.interval == timedelta(seconds=30)
    assert jobs["timers.fire"].max_instances == 1 and jobs["timers.fire"].coalesce


def test_scheduling_twice_keeps_one_row(database_url: str) -> None:
    db = migrated(database_url)
    due = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    for _ in range(2):
        with db.write() as session:
            schedule(
                session, [("helper:1", "2026-12", "reminder.first", due, {"region": "gangkou"})]
            )
    assert len(timers(db)) == 1
    with db.read() as session:
        assert session.exec(select(Helper)).all() == []


def test_the_app_installs_the_jobs_table_and_nothing_twice(services: Services) -> None:
    """The running app ticks through the jobs table: every JOBS row is there once, and the
    daily digest is no longer a second job of its own."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler()
    _schedule(scheduler, services, dispatcher_for(services, []))  # type: ignore[arg-type]
    names = [job.id for job in scheduler.get_jobs()]
    assert len(names) == len(set(names))
    assert {job.name for job in JOBS} <= set(names)
    assert set(names) - {job.name for job in JOBS} == {
        "inbound.recover", "outbox.recover", "sessions.purge"}  # fmt: skip
    digest = next(job for job in scheduler.get_jobs() if job.id == "digest.cadres")
    ctx = digest.func.args[0]
    assert isinstance(ctx, JobContext) and ctx.db is services.db
    assert ctx.policies is services.policies and ctx.clock is services.clock


def test_a_batch_of_reminders_says_what_one_by_one_would(database_url: str) -> None:
    """The batch path (the month's fan-out) and the single path write the same messages."""
    db = migrated(database_url)
    populate(db, helpers=6, per_helper=3, linked=4)
    with db.write() as session:
        session.add(Contact(channel="telegram", external_id="9001", language="en"))
        record_visit(session, cipher(), household_id=1, helper_id=1, period="2026-12",
                     visited_on=date(2026, 12, 1), mode=VisitMode.PHONE, actor="t",
                     now=datetime(2026, 12, 1, 2, tzinfo=UTC))  # fmt: skip
        for n in (4, 5, 6):  # helper 2's households are all visited: nothing open
            record_visit(session, cipher(), household_id=n, helper_id=2, period="2026-12",
                         visited_on=date(2026, 12, 1), mode=VisitMode.IN_PERSON, actor="t",
                         now=datetime(2026, 12, 1, 2, tzinfo=UTC))  # fmt: skip
    policy = policies()["gangkou"]
    hp = helpers_policy(policy)
    with db.read() as session:
        args = {"today": date(2026, 12, 2), "policy": policy, "helpers": hp}
        batch = helper_reminders(session, list(range(1, 7)), "2026-12", Round.SECOND, **args)
        single = {h: helper_reminder(session, h, "2026-12", Round.SECOND, **args)
                  for h in range(1, 7)}  # fmt: skip
    assert batch == {h: m for h, m in single.items() if m is not None}
    assert set(batch) == {1, 3, 4}  # 2 has nothing open; 5 and 6 are not linked
    assert batch[1].text.startswith("帮扶0") and batch[1].buttons[0][1].startswith("visit:")


def test_the_fan_out_costs_less_than_one_statement_per_reminder(database_url: str) -> None:
    from sqlalchemy import event

    db = migrated(database_url)
    populate(db, helpers=200, per_helper=2)
    clock = Clock(beijing(2026, 12, 1, 9, 0))
    ctx = context(db, clock)
    plan_timers(ctx)
    fire_timers(ctx)  # the plan fans out to 200 helper timers
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = fire_timers(ctx)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert report.fired == 200 and len(outbox(db)) == 200
    assert len(statements) < 100, len(statements)


def test_a_failing_batch_is_fired_one_by_one_and_only_once(database_url: str) -> None:
    db = migrated(database_url)
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with db.write() as session:
        schedule(session, [(f"s{i}", "2026-12", "test", now, {}) for i in range(4)])
    one_by_one: list[str] = []

    def batch_fails(session, timers, at):  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    def single(session, timer, at):  # type: ignore[no-untyped-def]
        one_by_one.append(timer.subject)
        return "alone"

    report = fire_due(db, {"test": single}, worker="w", now=now, together={"test": batch_fails},
                      staleness=lambda t: timedelta(1))  # fmt: skip
    assert report.fired == 4 and sorted(one_by_one) == ["s0", "s1", "s2", "s3"]
    assert {(t.status, t.note) for t in timers(db)} == {("fired", "alone")}
