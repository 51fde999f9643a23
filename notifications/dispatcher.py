"""The outbox dispatcher: claims due rows and sends them through each channel's Sender.

Many dispatchers may run (one per worker process); the claim makes each row one worker's and
one recipient one worker's at a time (:mod:`notifications.claims`). Each channel runs one loop
(:class:`~notifications.channel_run.ChannelRun`) that keeps about a second of claimed rows at
hand and sends the most urgent row whose recipient is free, so a reply to someone typing
overtakes a backlog of reminders. Sends to one recipient go in order, one at a time; different
recipients go concurrently.

A row is marked ``sending`` (and committed) right before its network call. What happens to a
row that may have been lost is the outbox's rule: a reply is sent again, anything else is sent
at most once (see :mod:`notifications.outbox`).

A running dispatcher renews the lease of the rows it holds every quarter lease (a heartbeat)
and, in the same beat, frees the rows of workers whose lease lapsed. When it starts, it gives
back every row left ``claimed`` on its channels, and a channel loop that failed (a database
outage) gives back its own before it starts again: rows never handed to the network do not
wait for a lease.

Rate limits live in this process: run one dispatching worker per bot token, or divide the
limits among the workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, update

from intake.columns import utcnow
from intake.db import Database
from intake.outage import is_conflict
from notifications import claims, outbox
from notifications.channel_run import ChannelRun, wait_any
from notifications.group_commit import GroupCommit
from notifications.handoff import HandOff
from notifications.outbox import AT_LEAST_ONCE, OutboxMessage, OutboxStatus
from notifications.ratelimit import Limits, Pacer
from notifications.sealing import open_payload, seal_payload
from notifications.sender import Delivered, Outcome, RetryLater, Sender, Stopped, Uncertain

log = logging.getLogger(__name__)
#: How long a worker's hold on a row lasts without a heartbeat.
LEASE = timedelta(seconds=60)


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
    ``lookahead`` bounds the rows a channel holds claimed but unsent. ``lease`` is how long
    a hold lasts without a heartbeat (:data:`LEASE`). ``max_in_flight`` bounds the sends
    under way at once per channel (keep it under the sender's connection pool).
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
        lease: timedelta = LEASE,
        max_in_flight: int = 16,
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
        #: Sends under way at once per channel, at most.
        self.max_in_flight = max_in_flight
        #: Unique per dispatcher; the pid and a random part say which process held a row.
        self.worker = worker or f"dispatch-{os.getpid()}-{uuid.uuid4().hex[:8]}"
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
        #: The channel runs going on now (their rows are what the heartbeat renews).
        self.runs: set[ChannelRun] = set()
        #: The loop of each channel dispatching now, which takes handed-over rows.
        self.live: dict[str, ChannelRun] = {}
        #: ``sending`` marks and outcomes, written in batches (one transaction each).
        self.marks: GroupCommit[OutboxMessage, bool] = GroupCommit(
            self.mark_sending_many, retry_if=is_conflict
        )
        self.records: GroupCommit[tuple[OutboxMessage, Outcome], str] = GroupCommit(
            self.record_many, retry_if=is_conflict
        )

    def handoff(self, channel: str) -> HandOff | None:
        """A claim for a reply's rows, when ``channel``'s loop runs here (any thread)."""
        if channel not in self.live:
            return None
        return HandOff(self.worker, self.now() + self.lease)

    def offer(self, channel: str, rows: Sequence[OutboxMessage]) -> None:
        """Take rows written claimed for this worker (:meth:`handoff`); on the event loop.

        Without a loop for the channel any more they stay claimed: the next run gives them
        back when it starts, or the heartbeat when their lease lapses.
        """
        run = self.live.get(channel)
        if run is not None:
            run.take(rows)

    async def run_once(self) -> int:
        """Claim one batch per channel, send it all, return how many rows were handled."""
        handled = 0
        for channel, sender in self.senders.items():
            handled += await ChannelRun(self, channel, sender).run(None, once=True)
        return handled

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Dispatch until ``stop`` is set; :attr:`wake` makes a loop claim at once.

        Every row left ``claimed`` on these channels is given back first (this process
        starts; whoever claimed them sent nothing of them), then the loops and the
        heartbeat run.
        """
        loops = (self._keep_running(c, s, stop, idle_seconds) for c, s in self.senders.items())
        await asyncio.gather(*loops, self._heartbeat(stop))

    def recover(self) -> int:
        """Rows whose worker vanished: unsent ones go back, mid-send ones are sent again
        (replies) or become unknown (the rest)."""
        with self.db.write() as session:
            return claims.expire_leases(
                session, now=self.now(), max_attempts=self.retry.max_attempts
            )

    def beat(self) -> int:
        """One heartbeat: renew the leases of the rows held here, free lapsed ones."""
        ids = [row_id for run in list(self.runs) for row_id in run.held_ids()]
        with self.db.write() as session:
            claims.renew(session, ids=ids, worker=self.worker, now=self.now(), lease=self.lease)
            return claims.expire_leases(
                session, now=self.now(), max_attempts=self.retry.max_attempts
            )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        every = self.lease.total_seconds() / 4
        while not stop.is_set():
            await _wait(stop, every)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(self.beat)
            except Exception:  # the database is away; the loops report it too
                log.warning("outbox heartbeat failed; trying again in %.0f s", every)

    async def _keep_running(
        self, channel: str, sender: Sender, stop: asyncio.Event, idle_seconds: float
    ) -> None:
        everyone = True  # on start every claim is given back, after a failure only ours
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.release_claims, channel, everyone=everyone)
                everyone = False
                await ChannelRun(self, channel, sender, idle_seconds).run(stop, once=False)
            except Exception:
                log.exception("dispatcher loop for %s failed; restarting shortly", channel)
                await _wait(stop, idle_seconds)

    # ------------------------------------------------------------ database steps (threads)

    def release_claims(self, channel: str, *, everyone: bool) -> int:
        """Give back unsent claimed rows of ``channel``: everyone's, or this worker's."""
        with self.db.write() as session:
            worker = None if everyone else self.worker
            return claims.release_claims(session, channel=channel, worker=worker)

    def claim(self, channel: str, limit: int) -> list[OutboxMessage]:
        """Claim up to ``limit`` due rows of ``channel`` for this worker."""
        with self.db.write() as session:
            rows = claims.claim(
                session,
                worker=self.worker,
                channel=channel,
                now=self.now(),
                limit=limit,
                lease=self.lease,
                use_skip_locked=not self.db.is_sqlite,
            )
        for row in rows:  # detached: opening them in memory writes nothing back
            row.payload = open_payload(row.payload, self.db.sealer)
        return rows

    def mark_sending(self, row: OutboxMessage) -> bool:
        """Commit ``sending`` before the network call; ``False`` if the row may not go now."""
        return self.mark_sending_many([row])[0]

    def mark_sending_many(self, rows: list[OutboxMessage]) -> list[bool]:
        """:meth:`mark_sending` for rows of different recipients, in one transaction."""
        ids = [row.id for row in rows if row.id is not None]
        with self.db.write() as session:
            moved = claims.mark_sending_many(
                session, row_ids=ids, worker=self.worker, now=self.now(), lease=self.lease
            )
        return [row.id in moved for row in rows]

    def release(self, rows: list[OutboxMessage]) -> None:
        """Give unsent claimed rows back."""
        ids = [row.id for row in rows if row.id is not None]
        if ids:
            with self.db.write() as session:
                claims.release(session, ids=ids, worker=self.worker)

    def save_progress(self, row: OutboxMessage, parts_sent: int) -> None:
        """Remember how many parts of a multi-part row went, so a retry skips them."""
        row.payload = {**row.payload, "parts_sent": parts_sent}
        with self.db.write() as session:
            if outbox.is_marked(session, row.id):  # keep a mark made meanwhile
                row.payload[outbox.FORGET] = True
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row.id)
                .values(payload=seal_payload(row.payload, self.db.sealer))
            )

    def record(self, row: OutboxMessage, outcome: Outcome) -> str:
        """Write what the channel answered, in one transaction with what follows from it;
        returns the row's new status."""
        return self.record_many([(row, outcome)])[0]

    def record_many(self, outcomes: list[tuple[OutboxMessage, Outcome]]) -> list[str]:
        """:meth:`record` for many rows in one transaction: the delivered ones in one
        statement, the others one by one with what follows from them."""
        now = self.now()
        statuses: list[str] = []
        with self.db.write() as session:
            # Delivered rows go in one statement; a row marked to be forgotten (an anonymous
            # reporter's reply) is settled on its own, blanked in the same UPDATE.
            together = [
                (row, outcome)
                for row, outcome in outcomes
                if isinstance(outcome, Delivered) and not row.payload.get(outbox.FORGET)
            ]
            delivered = [row.id for row, _ in together]
            settled = {id(row) for row, _ in together}
            if delivered:
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(delivered), self._sending_here())
                    .values(
                        status=OutboxStatus.SENT,
                        sent_at=now,
                        last_error=None,
                        lease_until=None,
                        attempts=col(OutboxMessage.attempts) + 1,
                    )
                )
                outbox.blank_marked(session, delivered)
            for row, outcome in outcomes:
                if id(row) in settled:
                    statuses.append(OutboxStatus.SENT)
                else:
                    statuses.append(self._record_one(session, row, outcome, now))
        for row, outcome in outcomes:
            if isinstance(outcome, Stopped) and self.on_stopped is not None:
                self.on_stopped(row.channel, row.recipient)
        return statuses

    def _sending_here(self) -> ColumnElement[bool]:
        """Rows this worker is sending (the outcome of a row taken over is not ours)."""
        return and_(
            col(OutboxMessage.claimed_by) == self.worker,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
        )

    def _record_one(
        self, session: Session, row: OutboxMessage, outcome: Outcome, now: datetime
    ) -> str:
        values = self._values(row, outcome, now)
        values.update(outbox.forgotten(row, values))
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row.id, self._sending_here())
            .values(**values)
        )
        if values["status"] in outbox.SETTLED and not row.payload.get(outbox.FORGET):
            outbox.blank_if_marked(session, row.id)  # marked while it was being sent
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
        return str(values["status"])

    def _values(self, row: OutboxMessage, outcome: Outcome, now: datetime) -> dict[str, Any]:
        flood = isinstance(outcome, RetryLater) and outcome.flood
        attempts = row.attempts if flood else row.attempts + 1
        values: dict[str, Any] = {"lease_until": None, "attempts": attempts}
        retry = attempts < self.retry.max_attempts
        if isinstance(outcome, Delivered):
            values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None)
        elif isinstance(outcome, RetryLater) and retry:
            wait = outcome.after if flood else self.retry.delay(attempts, at_least=outcome.after)
            values.update(_again(now, wait, outcome.reason))
        elif isinstance(outcome, Uncertain) and retry and row.priority in AT_LEAST_ONCE:
            # A reply the villager waits for: a possible duplicate beats a silent stop.
            reason = f"{outcome.reason}; sent again (it may arrive twice)"
            values.update(_again(now, self.retry.delay(attempts), reason))
        elif isinstance(outcome, Stopped):
            values.update(status=OutboxStatus.STOPPED, last_error=outcome.reason[:500])
        elif isinstance(outcome, Uncertain):
            values.update(status=OutboxStatus.UNKNOWN, last_error=outcome.reason[:500])
        else:
            values.update(status=OutboxStatus.FAILED, last_error=outcome.reason[:500])
        return values


def _again(now: datetime, wait: float, reason: str) -> dict[str, Any]:
    """The values of a row going back to ``pending`` for another attempt."""
    return {
        "status": OutboxStatus.PENDING,
        "claimed_by": None,
        "next_attempt_at": now + timedelta(seconds=wait),
        "last_error": reason[:500],
    }


def _never(_recipient: str) -> bool:
    return False


def _limits_for(limits: Limits | Mapping[str, Limits] | None, channel: str) -> Limits:
    if limits is None:
        return Limits()
    if isinstance(limits, Limits):
        return limits
    return limits.get(channel, Limits())


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    await wait_any([stop], seconds)
