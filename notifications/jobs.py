"""The jobs table: every scheduled job of the service, by name, trigger and function.

APScheduler only ticks (DESIGN.md decision 5): its in-memory jobs wake each worker, and
the work itself is in database rows (:mod:`notifications.timers`), so any number of
workers is safe and a restart loses nothing. The table:

================  ===============  =====================================================
name              trigger          function
================  ===============  =====================================================
timers.plan       every 15 min     :func:`plan_timers`: this month's reminder rounds and
                                   last month's escalations, per region (idempotent)
timers.fire       every 30 s       :func:`fire_timers`: fire what is due, once
digest.cadres     every 10 min     :func:`send_cadre_digests`: the cadres' daily digest
================  ===============  =====================================================

When each timer is *due* is policy data (the region's ``helpers:`` section); the ticks only
decide how soon after that a worker notices. The timer kinds and what firing one does:

- ``plan.first`` / ``plan.second`` (subject ``region:<code>``): fan out one
  ``reminder.first`` / ``reminder.second`` timer per linked helper with households (same
  due time, so staleness counts from the policy's hour); the first also tells each
  township's cadres which helpers cannot be reached;
- ``reminder.first`` / ``reminder.second`` (subject ``helper:<id>``): the helper's one
  message listing the households due (still open, for the second);
- ``overdue.village`` / ``overdue.township`` (subject ``region:<code>``): the ladder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from intake.crypto import FieldCipher
from intake.db import Database
from intake.helpers.policy import HelpersPolicy, helpers_policy
from intake.helpers.reminders import (
    Message,
    Recipients,
    Round,
    helper_reminder,
    helper_reminders,
    helpers_to_remind,
    next_working_moment,
    overdue_messages,
    reminder_at,
    unreachable_messages,
)
from intake.helpers.review import open_due_reviews
from intake.helpers.visits import (
    Level,
    month_bounds,
    overdue_households,
    period_of,
    shift_period,
    township_escalation_day,
)
from intake.policy import Policy
from intake.tracking import new_tracking_code
from intake.users import Role, User
from intake.workdays import SHANGHAI, WorkdayCalendar
from notifications.digest import post_notice, send_digests
from notifications.outbox import OutboxMessage, OutboxStatus, Priority, enqueue
from notifications.sealing import seal_payload, sealer_of
from notifications.timers import BatchHandler, FireReport, Handler, Timer, fire_due, schedule

__all__ = [
    "JOBS",
    "Job",
    "JobContext",
    "batch_handlers",
    "fire_timers",
    "handlers",
    "install",
    "plan_timers",
]


@dataclass
class JobContext:
    """What every job needs, handed over by the composition root (no global settings)."""

    db: Database
    policies: dict[str, Policy]
    calendar: WorkdayCalendar
    clock: Callable[[], datetime]
    worker: str
    cipher: FieldCipher
    base_url: str = ""
    _helpers: dict[str, HelpersPolicy] = field(default_factory=dict)

    def helpers(self, region: str) -> HelpersPolicy:
        """The region's validated ``helpers:`` policy (checked once, then kept)."""
        if region not in self._helpers:
            self._helpers[region] = helpers_policy(self.policies[region])
        return self._helpers[region]


@dataclass(frozen=True)
class Job:
    """One row of the jobs table: APScheduler runs ``run(context)`` every ``every``."""

    name: str
    every: timedelta
    run: Callable[[JobContext], Any]


# --- planning ---------------------------------------------------------------------------


def plan_timers(ctx: JobContext) -> int:
    """Make sure this month's reminder rounds and last month's ladder have their timers.

    Cheap and idempotent (a handful of keyed inserts per region), so every worker may run
    it every few minutes; a worker back from a long outage plans what it missed, and the
    staleness rule decides whether that still fires.
    """
    now = ctx.clock()
    period = period_of(now.astimezone(SHANGHAI).date())
    last = shift_period(period, -1)
    rows: list[tuple[str, str, str, datetime, dict[str, Any]]] = []
    for code in ctx.policies:
        hp = ctx.helpers(code)
        subject, payload = f"region:{code}", {"region": code}
        for which in Round:
            due = reminder_at(period, which, ctx.calendar, hp)
            rows.append((subject, period, f"plan.{which.value}", due, payload))
        first_after = ctx.calendar.add_working_days(month_bounds(last)[1], 1)
        at = time(hp.reminder_hour)
        rows.append((subject, last, "overdue.village",
                     datetime.combine(first_after, at, tzinfo=SHANGHAI), payload))  # fmt: skip
        township_day = township_escalation_day(last, ctx.calendar, hp)
        rows.append((subject, last, "overdue.township",
                     datetime.combine(township_day, at, tzinfo=SHANGHAI), payload))  # fmt: skip
    with ctx.db.write() as session:
        schedule(session, rows)
    return len(rows)


# --- firing -----------------------------------------------------------------------------


def _queue(session: Session, messages: list[Message], not_before: datetime, now: datetime) -> int:
    queued = 0
    for message in messages:
        row = enqueue(
            session,
            channel=message.channel,
            recipient=message.recipient,
            payload={"text": message.text,
                     "buttons": [{"label": lb, "data": d} for lb, d in message.buttons]},
            priority=Priority.BULK,
            not_before=not_before,
            dedupe_key=message.dedupe_key,
            now=now,
        )  # fmt: skip
        queued += row is not None
    return queued


def _queue_many(
    session: Session, messages: list[Message], not_before: datetime, now: datetime
) -> None:
    """Queue many bulk messages with one statement; a dedupe key already queued is kept
    (``ON CONFLICT DO NOTHING``), so a fire that runs again doubles nothing."""
    if not messages:
        return
    sealer = sealer_of(session)
    rows = [
        {"channel": m.channel, "recipient": m.recipient, "contact_id": None,
         "priority": int(Priority.BULK), "status": OutboxStatus.PENDING.value, "attempts": 0,
         "payload": seal_payload({"text": m.text, "buttons": [
             {"label": lb, "data": d} for lb, d in m.buttons]}, sealer),
         "next_attempt_at": not_before, "dedupe_key": m.dedupe_key, "created_at": now}
        for m in messages
    ]  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(insert(table).on_conflict_do_nothing(), rows)


def _recipients(session: Session, role: Role, region: str) -> Recipients:
    """Cadres of ``role`` in ``region`` with a linked chat, keyed by their place code."""
    query = select(User).where(
        User.role == role.value,
        User.region_code == region,
        col(User.disabled_at).is_(None),
        col(User.chat_external_id).is_not(None),
    )
    found: Recipients = {}
    for user in session.exec(query.order_by(col(User.id))):
        place = user.village_code if role is Role.VILLAGE else user.township_code
        if place and user.chat_channel and user.chat_external_id and user.id is not None:
            found.setdefault(place, []).append(
                (user.id, user.chat_channel, user.chat_external_id, user.language)
            )
    return found


def _plan_round(ctx: JobContext, which: Round) -> Handler:
    def run(session: Session, timer: Timer, now: datetime) -> str | None:
        region = str(timer.payload["region"])
        linked, unreachable = helpers_to_remind(session, region)
        payload = {"region": region}
        schedule(session, ((f"helper:{h}", timer.period, f"reminder.{which.value}",
                            timer.due_at, payload) for h in linked))  # fmt: skip
        if which is Round.FIRST and unreachable:
            recipients = _recipients(session, Role.TOWNSHIP, region)
            messages = unreachable_messages(session, unreachable, timer.period, recipients)
            _queue(
                session, messages, next_working_moment(now, ctx.calendar, ctx.helpers(region)), now
            )
        return f"{len(linked)} helpers to remind, {len(unreachable)} unreachable"

    return run


def _reminder(ctx: JobContext, which: Round) -> Handler:
    def run(session: Session, timer: Timer, now: datetime) -> str | None:
        region = str(timer.payload["region"])
        hp = ctx.helpers(region)
        helper_id = int(timer.subject.removeprefix("helper:"))
        today = now.astimezone(SHANGHAI).date()
        message = helper_reminder(session, helper_id, timer.period, which, today=today,
                                  policy=ctx.policies[region], helpers=hp)  # fmt: skip
        if message is None:
            return "nothing open"
        _queue(session, [message], next_working_moment(now, ctx.calendar, hp), now)
        return None

    return run


def _reminders(ctx: JobContext, which: Round) -> BatchHandler:
    """A batch of helpers' reminders at once: a few queries and one insert in all."""

    def run(session: Session, timers: list[Timer], now: datetime) -> dict[int, str]:
        notes: dict[int, str] = {}
        by_region: dict[tuple[str, str], list[Timer]] = {}
        for timer in timers:
            key = (str(timer.payload["region"]), timer.period)
            by_region.setdefault(key, []).append(timer)
        today = now.astimezone(SHANGHAI).date()
        for (region, period), group in by_region.items():
            hp = ctx.helpers(region)
            ids = {int(t.subject.removeprefix("helper:")): int(t.id or 0) for t in group}
            messages = helper_reminders(session, list(ids), period, which, today=today,
                                        policy=ctx.policies[region], helpers=hp)  # fmt: skip
            notes |= {timer_id: "nothing open" for h, timer_id in ids.items() if h not in messages}
            _queue_many(session, list(messages.values()),
                        next_working_moment(now, ctx.calendar, hp), now)  # fmt: skip
        return notes

    return run


def _overdue(ctx: JobContext, level: Level) -> Handler:
    def run(session: Session, timer: Timer, now: datetime) -> str | None:
        region = str(timer.payload["region"])
        policy, hp = ctx.policies[region], ctx.helpers(region)
        villages = {v.code for _, v in policy.villages()}
        today = now.astimezone(SHANGHAI).date()
        late = overdue_households(session, timer.period, today, hp.followup_visit_months, villages)
        role = Role.VILLAGE if level is Level.VILLAGE else Role.TOWNSHIP
        messages = overdue_messages(
            late, level, timer.period, _recipients(session, role, region), policy
        )
        queued = _queue(session, messages, next_working_moment(now, ctx.calendar, hp), now)
        return f"{len(late)} overdue, {queued} messages"

    return run


def handlers(ctx: JobContext) -> dict[str, Handler]:
    """Timer kind → what firing it does."""
    return {
        "plan.first": _plan_round(ctx, Round.FIRST),
        "plan.second": _plan_round(ctx, Round.SECOND),
        "reminder.first": _reminder(ctx, Round.FIRST),
        "reminder.second": _reminder(ctx, Round.SECOND),
        "overdue.village": _overdue(ctx, Level.VILLAGE),
        "overdue.township": _overdue(ctx, Level.TOWNSHIP),
    }


def batch_handlers(ctx: JobContext) -> dict[str, BatchHandler]:
    """Timer kinds fired a batch at a time (the month's fan-out to every helper)."""
    return {
        "reminder.first": _reminders(ctx, Round.FIRST),
        "reminder.second": _reminders(ctx, Round.SECOND),
    }


def _staleness(ctx: JobContext, timer: Timer) -> timedelta:
    region = str(timer.payload.get("region", ""))
    if region not in ctx.policies:
        return timedelta(0)
    return timedelta(hours=ctx.helpers(region).staleness_hours)


def fire_timers(ctx: JobContext, *, max_batches: int | None = 40) -> FireReport:
    """Fire due timers (a bounded amount per tick; the next tick goes on)."""
    return fire_due(
        ctx.db,
        handlers(ctx),
        worker=ctx.worker,
        now=ctx.clock(),
        staleness=functools.partial(_staleness, ctx),
        max_batches=max_batches,
        together=batch_handlers(ctx),
    )


def send_cadre_digests(ctx: JobContext) -> int:
    """The cadres' daily digest (its own once-a-day rule is in notifications.digest)."""
    return send_digests(ctx.db, calendar=ctx.calendar, policies=ctx.policies,
                        now=ctx.clock(), base_url=ctx.base_url, cipher=ctx.cipher)  # fmt: skip


def open_reviews(ctx: JobContext) -> int:
    """The 1-year reviews and the follow-up exits due today (idempotent: opened once)."""
    return open_due_reviews(ctx.db, policies=ctx.policies, now=ctx.clock(),
                            new_code=new_tracking_code, post_notice=post_notice)  # fmt: skip


JOBS: tuple[Job, ...] = (
    Job("timers.plan", timedelta(minutes=15), plan_timers),
    Job("timers.fire", timedelta(seconds=30), fire_timers),
    Job("digest.cadres", timedelta(minutes=10), send_cadre_digests),
    Job("reviews.open", timedelta(hours=1), open_reviews),
)


def install(scheduler: Any, ctx: JobContext, jobs: tuple[Job, ...] = JOBS) -> None:
    """Add every job to an APScheduler 3 scheduler as an interval tick.

    Plain functions: an ``AsyncIOScheduler`` runs them in its thread pool, so the event
    loop never waits on the database. One instance per job at a time; missed ticks
    coalesce (the timers, not the ticks, remember what is due).
    """
    for job in jobs:
        scheduler.add_job(
            functools.partial(job.run, ctx),
            "interval",
            seconds=job.every.total_seconds(),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
