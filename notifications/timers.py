"""Durable timers: every due thing is a row, fired once by whichever worker gets it.

A timer has a unique key ``(subject, period, kind)`` — ``("helper:42", "2026-12",
"reminder.first")`` — so scheduling is an idempotent insert: a second worker, a second
tick or a re-run after a crash adds nothing. Firing (:func:`fire_due`) takes due rows in
small batches and, for each, runs its handler and marks it ``fired`` **in the same
transaction** as the handler's writes (outbox rows): a worker that dies mid-batch commits
none of it, so the rows are still ``pending`` for the next worker. Two workers never fire
one row twice: on PostgreSQL the batch is taken ``FOR UPDATE SKIP LOCKED`` and held until
the commit; on SQLite, which ignores ``FOR UPDATE``, the write transaction is ``BEGIN
IMMEDIATE`` (one writer at a time across processes) and each row is claimed by a
conditional UPDATE (``status = 'pending'``) that a rival cannot win twice.

A fire missed while the service was down is fired once when a worker returns; one older
than its staleness window is ``skipped`` with a note saying when it was due and when the
service came back (a reminder a week late confuses more than it helps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Index, UniqueConstraint, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from intake.columns import json_column, utc_column, utcnow
from intake.db import Database

__all__ = [
    "BatchHandler",
    "FireReport",
    "Handler",
    "Timer",
    "TimerStatus",
    "fire_due",
    "schedule",
]

log = logging.getLogger(__name__)


class TimerStatus(StrEnum):
    """The life of a timer row; only ``pending`` rows are ever fired."""

    PENDING = "pending"
    FIRED = "fired"
    #: Too stale to be useful when a worker got to it; the note says why.
    SKIPPED = "skipped"
    #: Its handler raised; the note names the error (never personal data).
    FAILED = "failed"


class Timer(SQLModel, table=True):
    """One due thing (a month's reminder to one helper, an escalation of one region)."""

    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("subject", "period", "kind", name="uq_timer_key"),
        Index("ix_timer_due", "status", "due_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=128)
    period: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    due_at: datetime = Field(sa_column=utc_column())
    status: str = Field(default=TimerStatus.PENDING, max_length=16)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    fired_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    fired_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Handler(Protocol):
    """Runs one timer inside the firing transaction; returns a note to keep, or None."""

    def __call__(self, session: Session, timer: Timer, now: datetime) -> str | None: ...


class BatchHandler(Protocol):
    """Runs many timers of one kind at once (a month's reminders: a few queries for a whole
    batch instead of ten per helper); returns the note of each timer id that has one."""

    def __call__(
        self, session: Session, timers: list[Timer], now: datetime
    ) -> Mapping[int, str]: ...


def schedule(
    session: Session, rows: Iterable[tuple[str, str, str, datetime, dict[str, Any]]]
) -> None:
    """Insert ``(subject, period, kind, due_at, payload)`` rows; existing keys are kept.

    One statement for many rows (``ON CONFLICT DO NOTHING`` on both databases), so a
    fan-out to twenty thousand helpers is one round trip per thousand rows.
    """
    values = [
        {"subject": s, "period": p, "kind": k, "due_at": d, "payload": payload,
         "status": TimerStatus.PENDING.value, "created_at": utcnow()}
        for s, p, k, d, payload in rows
    ]  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(values), 1000):
        statement = insert(Timer).on_conflict_do_nothing(
            index_elements=["subject", "period", "kind"]
        )
        session.execute(statement, values[start : start + 1000])


@dataclass
class FireReport:
    """What one call of :func:`fire_due` did."""

    fired: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """Timers settled by this call."""
        return self.fired + self.skipped + self.failed


def _take(session: Session, db: Database, now: datetime, limit: int) -> list[Timer]:
    query = (
        select(Timer)
        .where(Timer.status == TimerStatus.PENDING, col(Timer.due_at) <= now)
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(limit)
    )
    if not db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query))


def _settle(
    session: Session, timer: Timer, status: TimerStatus, worker: str, now: datetime,
    note: str | None,
) -> bool:  # fmt: skip
    """The conditional UPDATE that makes a row this worker's; False if another had it."""
    result = session.execute(
        update(Timer)
        .where(col(Timer.id) == timer.id, col(Timer.status) == TimerStatus.PENDING)
        .values(status=status.value, fired_at=now, fired_by=worker[:64],
                note=note[:500] if note else None)
    )  # fmt: skip
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def _fire_one(
    session: Session, timer: Timer, handler: Handler | None, worker: str, now: datetime,
    report: FireReport,
) -> None:  # fmt: skip
    if handler is None:
        _settle(session, timer, TimerStatus.FAILED, worker, now, f"no handler for {timer.kind}")
        report.failed += 1
        return
    try:
        with session.begin_nested():
            if not _settle(session, timer, TimerStatus.FIRED, worker, now, None):
                return
            note = handler(session, timer, now)
            if note:
                session.execute(
                    update(Timer).where(col(Timer.id) == timer.id).values(note=note[:500])
                )
        report.fired += 1
    except Exception as exc:  # one bad timer must not hold back the month's others
        log.exception("timer %s (%s) failed", timer.id, timer.kind)
        _settle(session, timer, TimerStatus.FAILED, worker, now, type(exc).__name__)
        report.failed += 1


def _fire_together(
    session: Session, timers: list[Timer], handler: BatchHandler, worker: str, now: datetime,
    report: FireReport,
) -> bool:  # fmt: skip
    """Fire ``timers`` (one kind) with one claim and one handler call; False if the handler
    raised, and then nothing of it is kept (the caller fires them one by one instead)."""
    ids = [int(t.id or 0) for t in timers]
    try:
        with session.begin_nested():
            claimed = session.execute(
                update(Timer)
                .where(col(Timer.id).in_(ids), col(Timer.status) == TimerStatus.PENDING)
                .values(status=TimerStatus.FIRED.value, fired_at=now, fired_by=worker[:64])
                .returning(col(Timer.id))
            )
            mine = {int(i) for (i,) in claimed}
            notes = handler(session, [t for t in timers if t.id in mine], now)
            if notes:
                table = Timer.__table__  # type: ignore[attr-defined]
                session.connection().execute(
                    update(table).where(table.c.id == bindparam("tid")).values(note=bindparam("n")),
                    [{"tid": i, "n": n[:500]} for i, n in notes.items() if i in mine],
                )
    except Exception:
        log.exception("a batch of %d %s timers failed; firing them one by one", len(ids),
                      timers[0].kind)  # fmt: skip
        return False
    report.fired += len(mine)
    return True


def fire_due(
    db: Database,
    handlers: Mapping[str, Handler],
    *,
    worker: str,
    now: datetime,
    staleness: Callable[[Timer], timedelta],
    batch: int = 50,
    max_batches: int | None = None,
    together: Mapping[str, BatchHandler] | None = None,
) -> FireReport:
    """Fire every due timer (in batches of ``batch``, each its own transaction).

    ``staleness(timer)`` is how late the timer may still fire; later it is skipped with a
    note. Small batches keep SQLite's single writer free for villagers' messages between
    them. ``max_batches`` bounds one call (a tick); the next tick goes on. Kinds in
    ``together`` are fired a batch at a time by their batch handler (if it fails, one by
    one by their ordinary handler, so one bad timer holds back no other).
    """
    report = FireReport()
    rounds = 0
    together = together or {}
    while max_batches is None or rounds < max_batches:
        rounds += 1
        with db.write() as session:
            timers = _take(session, db, now, batch)
            due: dict[str, list[Timer]] = {}
            for timer in timers:
                late = now - timer.due_at
                if late > staleness(timer):
                    note = f"skipped: due {timer.due_at.isoformat()}, worker came {late} late"
                    report.skipped += _settle(
                        session, timer, TimerStatus.SKIPPED, worker, now, note
                    )
                    continue
                due.setdefault(timer.kind, []).append(timer)
            for kind, group in due.items():
                handler = together.get(kind)
                if handler and _fire_together(session, group, handler, worker, now, report):
                    continue
                for timer in group:
                    _fire_one(session, timer, handlers.get(kind), worker, now, report)
        if len(timers) < batch:
            break
    return report
