"""The outbox dispatcher: claims due rows and sends them through the channel's Sender.

Many dispatchers may run (one per worker); the claim makes each row one worker's. Sends
to one recipient go in order, one at a time; different recipients go concurrently
within the :class:`~notifications.ratelimit.Pacer`'s limits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, update

from intake.columns import utcnow
from intake.db import Database
from notifications.outbox import OutboxMessage, OutboxStatus, claim, expire_leases
from notifications.ratelimit import Limits, Pacer
from notifications.sender import Delivered, Failed, Outcome, RetryLater, Sender, Stopped

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
        return max(at_least, backoff * (0.5 + random.random() / 2))


class Dispatcher:
    """Delivers outbox rows for the channels it has senders for."""

    def __init__(
        self,
        db: Database,
        senders: dict[str, Sender],
        *,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(minutes=5),
        worker: str | None = None,
        now: Callable[[], datetime] = utcnow,
        on_stopped: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.senders = senders
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.lease = lease
        self.worker = worker or f"dispatch-{uuid.uuid4().hex[:8]}"
        self.now = now
        self.on_stopped = on_stopped
        self.pacers = {name: Pacer(limits or Limits()) for name in senders}
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """Claim one batch per channel and send it; returns how many rows were handled."""
        handled = 0
        for channel, sender in self.senders.items():
            rows = await asyncio.to_thread(self._claim, channel)
            if rows:
                await self._send_all(sender, self.pacers[channel], rows)
                handled += len(rows)
        return handled

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Dispatch until ``stop`` is set, waking early when :attr:`wake` is set."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("dispatcher batch failed; retrying shortly")
                handled = 0
            if handled == 0:
                self.wake.clear()
                waiters = {
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self.wake.wait()),
                }
                _, pending = await asyncio.wait(
                    waiters, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()

    def recover(self) -> int:
        """Mark rows abandoned mid-send as ``unknown`` (call at start and periodically)."""
        with self.db.write() as session:
            return expire_leases(session, now=self.now())

    def _claim(self, channel: str) -> list[OutboxMessage]:
        with self.db.write() as session:
            return claim(
                session,
                worker=self.worker,
                channel=channel,
                now=self.now(),
                limit=self.batch_size,
                lease=self.lease,
                use_skip_locked=not self.db.is_sqlite,
            )

    async def _send_all(self, sender: Sender, pacer: Pacer, rows: list[OutboxMessage]) -> None:
        by_recipient: dict[str, list[OutboxMessage]] = defaultdict(list)
        for row in rows:
            by_recipient[row.recipient].append(row)
        await asyncio.gather(
            *(self._send_in_order(sender, pacer, group) for group in by_recipient.values())
        )

    async def _send_in_order(self, sender: Sender, pacer: Pacer, rows: list[OutboxMessage]) -> None:
        for index, row in enumerate(rows):
            await pacer.wait_for_slot(row.recipient)
            try:
                outcome: Outcome = await sender.send(row.recipient, row.payload)
            except Exception as error:  # an adapter bug must not lose the row silently
                log.exception("sender %s raised for outbox row %s", sender.channel, row.id)
                outcome = Failed(f"sender error: {type(error).__name__}")
            if isinstance(outcome, RetryLater) and outcome.flood:
                pacer.pause(outcome.after)
            await asyncio.to_thread(self._record, row, outcome)
            if isinstance(outcome, Stopped | RetryLater):
                # Keep this recipient's order: later rows wait for the one that failed.
                await asyncio.to_thread(self._release, rows[index + 1 :])
                return

    def _record(self, row: OutboxMessage, outcome: Outcome) -> None:
        now = self.now()
        values: dict[str, object] = {"lease_until": None, "attempts": row.attempts + 1}
        if isinstance(outcome, Delivered):
            values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None)
        elif isinstance(outcome, RetryLater) and row.attempts + 1 < self.retry.max_attempts:
            wait = self.retry.delay(row.attempts + 1, at_least=outcome.after)
            values.update(
                status=OutboxStatus.PENDING,
                next_attempt_at=now + timedelta(seconds=wait),
                last_error=outcome.reason[:500],
            )
        elif isinstance(outcome, Stopped):
            values.update(status=OutboxStatus.STOPPED, last_error=outcome.reason[:500])
        else:
            values.update(status=OutboxStatus.FAILED, last_error=outcome.reason[:500])
        with self.db.write() as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row.id, OutboxMessage.claimed_by == self.worker)
                .values(**values)
            )
        if isinstance(outcome, Stopped) and self.on_stopped is not None:
            self.on_stopped(row.channel, row.recipient)

    def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        with self.db.write() as session:
            session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_([r.id for r in rows]),
                    OutboxMessage.claimed_by == self.worker,
                )
                .values(status=OutboxStatus.PENDING, lease_until=None, claimed_by=None)
            )
