"""The outbox dispatcher: claims due rows and sends them through each channel's Sender.

Many dispatchers may run (one per worker); the claim makes each row one worker's. Each
channel runs one loop (:class:`_ChannelRun`) that keeps only about a second of claimed rows
at hand and, at every send slot the :class:`~notifications.ratelimit.Pacer` grants, sends
the most urgent row whose recipient is free. So a reply to someone typing overtakes a
backlog of reminders within a slot or two, instead of waiting behind a batch.

Sends to one recipient go in order, one at a time; different recipients go concurrently.
A row is marked ``sending`` (and committed) right before its network call, so the delivery
guarantee is the outbox's: at most once (see :mod:`notifications.outbox`).

Rate limits live in this process: run one dispatching worker per bot token, or divide the
limits among the workers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, update

from intake.columns import utcnow
from intake.db import Database
from notifications import outbox
from notifications.outbox import OutboxMessage, OutboxStatus
from notifications.ratelimit import Limits, Pacer
from notifications.sender import (
    Delivered,
    Failed,
    MultipartSender,
    Outcome,
    RetryLater,
    Sender,
    Stopped,
    Uncertain,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped in delay and in attempts."""

    max_attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, attempts: int, at_least: float = 0.0) -> float:
        """Seconds to wait before attempt ``attempts + 1``."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return float(max(at_least, backoff * (0.5 + random.random() / 2)))


class _Wake:
    """``dispatcher.wake.set()`` wakes every channel loop (call it on the event loop)."""

    def __init__(self) -> None:
        self.events: list[asyncio.Event] = []

    def set(self) -> None:
        for event in self.events:
            event.set()


class Dispatcher:
    """Delivers outbox rows for the channels it has senders for.

    ``limits`` is one :class:`Limits` for every channel or a mapping by channel name;
    ``is_group`` tells, per channel, which recipients are groups (their own, slower limit).
    ``lookahead`` bounds the rows a channel holds claimed but unsent.
    """

    def __init__(
        self,
        db: Database,
        senders: dict[str, Sender],
        *,
        limits: Limits | Mapping[str, Limits] | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        lookahead: int | None = None,
        lease: timedelta = timedelta(minutes=5),
        worker: str | None = None,
        now: Callable[[], datetime] = utcnow,
        on_stopped: Callable[[str, str], None] | None = None,
        is_group: Mapping[str, Callable[[str], bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.senders = senders
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.lease = lease
        self.worker = worker or f"dispatch-{uuid.uuid4().hex[:8]}"
        self.now = now
        self.on_stopped = on_stopped
        self.clock = clock
        self.pacers: dict[str, Pacer] = {}
        self.lookahead: dict[str, int] = {}
        for name in senders:
            chosen = _limits_for(limits, name)
            group = (is_group or {}).get(name, _never)
            self.pacers[name] = Pacer(chosen, clock=clock, is_group=group)
            self.lookahead[name] = lookahead or max(10, int(chosen.per_second))
        self.wake = _Wake()

    async def run_once(self) -> int:
        """Claim one batch per channel, send it all, return how many rows were handled."""
        handled = 0
        for channel, sender in self.senders.items():
            handled += await _ChannelRun(self, channel, sender).run(None, once=True)
        return handled

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Dispatch until ``stop`` is set; :attr:`wake` makes a loop claim at once."""
        await asyncio.gather(
            *(self._keep_running(c, s, stop, idle_seconds) for c, s in self.senders.items())
        )

    def recover(self) -> int:
        """Rows whose worker vanished: unsent ones go back, mid-send ones become unknown."""
        with self.db.write() as session:
            return outbox.expire_leases(session, now=self.now())

    async def _keep_running(
        self, channel: str, sender: Sender, stop: asyncio.Event, idle_seconds: float
    ) -> None:
        while not stop.is_set():
            try:
                await _ChannelRun(self, channel, sender, idle_seconds).run(stop, once=False)
            except Exception:
                log.exception("dispatcher loop for %s failed; restarting shortly", channel)
                await _wait(stop, idle_seconds)

    # ------------------------------------------------------------ database steps (threads)

    def claim(self, channel: str, limit: int) -> list[OutboxMessage]:
        """Claim up to ``limit`` due rows of ``channel`` for this worker."""
        with self.db.write() as session:
            return outbox.claim(
                session,
                worker=self.worker,
                channel=channel,
                now=self.now(),
                limit=limit,
                lease=self.lease,
                use_skip_locked=not self.db.is_sqlite,
            )

    def mark_sending(self, row: OutboxMessage) -> bool:
        """Commit ``sending`` before the network call; ``False`` if the claim was lost."""
        with self.db.write() as session:
            return outbox.mark_sending(
                session, row_id=row.id, worker=self.worker, now=self.now(), lease=self.lease
            )

    def release(self, rows: list[OutboxMessage]) -> None:
        """Give unsent claimed rows back."""
        ids = [row.id for row in rows if row.id is not None]
        if ids:
            with self.db.write() as session:
                outbox.release(session, ids=ids, worker=self.worker)

    def save_progress(self, row: OutboxMessage, parts_sent: int) -> None:
        """Remember how many parts of a multi-part row went, so a retry skips them."""
        row.payload = {**row.payload, "parts_sent": parts_sent}
        with self.db.write() as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row.id)
                .values(payload=row.payload)
            )

    def record(self, row: OutboxMessage, outcome: Outcome) -> None:
        """Write what the channel answered, in one transaction with what follows from it."""
        now = self.now()
        values = self._values(row, outcome, now)
        with self.db.write() as session:
            session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == row.id,
                    col(OutboxMessage.claimed_by) == self.worker,
                    col(OutboxMessage.status) == OutboxStatus.SENDING,
                )
                .values(**values)
            )
            if values["status"] == OutboxStatus.PENDING:
                outbox.hold_recipient(
                    session,
                    channel=row.channel,
                    recipient=row.recipient,
                    after_id=row.id,
                    until=values["next_attempt_at"],
                    worker=self.worker,
                )
            elif isinstance(outcome, Stopped):
                outbox.stop_recipient(
                    session,
                    channel=row.channel,
                    recipient=row.recipient,
                    now=now,
                    reason=outcome.reason,
                )
        if isinstance(outcome, Stopped) and self.on_stopped is not None:
            self.on_stopped(row.channel, row.recipient)

    def _values(self, row: OutboxMessage, outcome: Outcome, now: datetime) -> dict[str, Any]:
        flood = isinstance(outcome, RetryLater) and outcome.flood
        attempts = row.attempts if flood else row.attempts + 1
        values: dict[str, Any] = {"lease_until": None, "attempts": attempts}
        if isinstance(outcome, Delivered):
            values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None)
        elif isinstance(outcome, RetryLater) and attempts < self.retry.max_attempts:
            wait = outcome.after if flood else self.retry.delay(attempts, at_least=outcome.after)
            values.update(
                status=OutboxStatus.PENDING,
                claimed_by=None,
                next_attempt_at=now + timedelta(seconds=wait),
                last_error=outcome.reason[:500],
            )
        elif isinstance(outcome, Stopped):
            values.update(status=OutboxStatus.STOPPED, last_error=outcome.reason[:500])
        elif isinstance(outcome, Uncertain):
            values.update(status=OutboxStatus.UNKNOWN, last_error=outcome.reason[:500])
        else:
            values.update(status=OutboxStatus.FAILED, last_error=outcome.reason[:500])
        return values


class _ChannelRun:
    """One channel's dispatch loop: a small local queue, paced sends, outcomes recorded."""

    def __init__(
        self, owner: Dispatcher, channel: str, sender: Sender, idle_seconds: float = 1.0
    ) -> None:
        self.owner = owner
        self.channel = channel
        self.sender = sender
        self.pacer = owner.pacers[channel]
        self.lookahead = owner.lookahead[channel]
        self.idle_seconds = idle_seconds
        self.waiting: list[OutboxMessage] = []
        self.busy: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.progress = asyncio.Event()
        self.woken = asyncio.Event()
        self.woken.set()  # claim at once on start
        self.last_claim = float("-inf")
        #: The last claim found fewer rows than it asked for: poll, don't hammer.
        self.drained = False

    async def run(self, stop: asyncio.Event | None, *, once: bool) -> int:
        """Send until ``stop`` (or, with ``once``, until one batch is done); rows handled."""
        handled = 0
        self.owner.wake.events.append(self.woken)
        try:
            if once:
                await self._claim(self.owner.batch_size)
            while stop is None or not stop.is_set():
                if not once:
                    await self._refill()
                row = self._next_ready()
                if row is not None:
                    handled += await self._start(row)
                elif once and not self.waiting and not self.tasks:
                    break
                else:
                    await self._idle(stop, once)
        finally:
            self.owner.wake.events.remove(self.woken)
            await self._finish()
        return handled

    async def _refill(self) -> None:
        if self.woken.is_set():
            self.woken.clear()
            await self._claim(max(self.lookahead - len(self.waiting), 5))
        elif self._claim_due_at() <= self.owner.clock():
            await self._claim(self.lookahead - len(self.waiting))

    def _claim_due_at(self) -> float:
        """When to claim again: soon while rows keep coming, else at the idle poll."""
        if len(self.waiting) >= self.lookahead:
            return float("inf")
        if self.drained:
            return self.last_claim + self.idle_seconds
        if len(self.waiting) > self.lookahead // 2:
            return float("inf")
        return self.last_claim + 0.05

    async def _claim(self, limit: int) -> None:
        self.last_claim = self.owner.clock()
        rows = await asyncio.to_thread(self.owner.claim, self.channel, limit)
        self.drained = len(rows) < limit
        if rows:
            self.waiting.extend(rows)
            self.waiting.sort(key=lambda r: (r.priority, r.id or 0))

    def _next_ready(self) -> OutboxMessage | None:
        """The most urgent row whose recipient is free (one row per recipient at a time)."""
        now = self.owner.clock()
        seen: set[str] = set()
        for row in self.waiting:
            if row.recipient in seen:
                continue
            seen.add(row.recipient)
            if row.recipient not in self.busy and self.pacer.ready_at(row.recipient) <= now:
                return row
        return None

    async def _start(self, row: OutboxMessage) -> int:
        self.waiting.remove(row)
        self.busy.add(row.recipient)
        # The slot first, then ``sending``: a crash while waiting for a slot leaves the row
        # claimed (sent later), not ``sending`` (given up as perhaps delivered).
        await self.pacer.acquire(row.recipient)
        if not await asyncio.to_thread(self.owner.mark_sending, row):
            self.busy.discard(row.recipient)  # no longer ours (stopped, or lease lost)
            return 0
        task = asyncio.create_task(self._deliver(row))
        self.tasks.add(task)
        return 1

    async def _deliver(self, row: OutboxMessage) -> None:
        try:
            outcome = await self._send_parts(row)
            await asyncio.to_thread(self.owner.record, row, outcome)
            if isinstance(outcome, RetryLater | Stopped):
                self._drop_held(row, everything=isinstance(outcome, Stopped))
        except Exception:
            log.exception("delivering outbox row %s failed", row.id)
        finally:
            self.busy.discard(row.recipient)
            task = asyncio.current_task()
            if task is not None:
                self.tasks.discard(task)
            self.progress.set()

    def _drop_held(self, row: OutboxMessage, *, everything: bool) -> None:
        """Forget rows the database now holds back (a retry) or stopped (a block)."""

        def held(other: OutboxMessage) -> bool:
            later = (other.id or 0) > (row.id or 0)
            return other.recipient == row.recipient and (everything or later)

        self.waiting = [other for other in self.waiting if not held(other)]

    async def _send_parts(self, row: OutboxMessage) -> Outcome:
        parts = self.sender.parts(row.payload) if isinstance(self.sender, MultipartSender) else 1
        first = int(row.payload.get("parts_sent", 0))
        outcome: Outcome = Delivered()
        for index in range(first, max(parts, first + 1)):
            if index > first:
                await self.pacer.acquire(row.recipient)
            payload = row.payload if parts == 1 else {**row.payload, "part": index}
            outcome = await self._send_one(row, payload)
            if isinstance(outcome, RetryLater) and outcome.flood:
                self.pacer.pause(outcome.after)
            if not isinstance(outcome, Delivered):
                break
            if index + 1 < parts:
                await asyncio.to_thread(self.owner.save_progress, row, index + 1)
        return outcome

    async def _send_one(self, row: OutboxMessage, payload: dict[str, Any]) -> Outcome:
        try:
            return await self.sender.send(row.recipient, payload)
        except Exception as error:  # an adapter bug must not lose the row silently
            log.exception("sender %s raised for outbox row %s", self.channel, row.id)
            return Failed(f"sender error: {type(error).__name__}")

    async def _idle(self, stop: asyncio.Event | None, once: bool) -> None:
        now = self.owner.clock()
        wake_at = [
            self.pacer.ready_at(r.recipient) for r in self.waiting if r.recipient not in self.busy
        ]
        if not once:
            wake_at.append(self._claim_due_at())
        timeout = min([self.idle_seconds, *(max(0.001, at - now) for at in wake_at)])
        self.progress.clear()
        events = [self.progress] if once else [self.progress, self.woken]
        if stop is not None:
            events.append(stop)
        await _wait_any(events, timeout)

    async def _finish(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.waiting:
            rows, self.waiting = self.waiting, []
            await asyncio.to_thread(self.owner.release, rows)


def _never(_recipient: str) -> bool:
    return False


def _limits_for(limits: Limits | Mapping[str, Limits] | None, channel: str) -> Limits:
    if limits is None:
        return Limits()
    if isinstance(limits, Limits):
        return limits
    return limits.get(channel, Limits())


async def _wait_any(events: list[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    await _wait_any([stop], seconds)
