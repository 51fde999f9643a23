"""One channel's dispatch loop: a small local queue, paced sends, outcomes recorded.

The loop keeps only about a second of claimed rows at hand and, at every send slot the
:class:`~notifications.ratelimit.Pacer` grants, sends the most urgent row whose recipient is
free. So a reply to someone typing overtakes a backlog of reminders within a slot or two,
instead of waiting behind a batch. A recipient's rows go one at a time and in the order they
were written (lowest id first), even when a later one is more urgent: one chat reads in order.

The database steps (claim, mark, record) are the :class:`~notifications.dispatcher.Dispatcher`'s,
run in threads; marks and records of rows in flight together are written together, one
transaction per batch (:mod:`notifications.group_commit`). Replies written already claimed
for this loop arrive through :meth:`ChannelRun.take` without a claim (:mod:`notifications.handoff`).
This module only decides what to send next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from notifications.outbox import OutboxMessage, OutboxStatus
from notifications.sender import (
    Delivered,
    Failed,
    MultipartSender,
    Outcome,
    RetryLater,
    Sender,
    Stopped,
)

if TYPE_CHECKING:
    from notifications.dispatcher import Dispatcher

log = logging.getLogger(__name__)
#: Claim again this soon while rows keep coming (seconds).
CLAIM_AGAIN = 0.05


class ChannelRun:
    """One run of one channel's loop; a failed run is replaced by a fresh one."""

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
        #: Rows marked ``sending`` whose outcome is not recorded yet (for the heartbeat).
        self.in_flight: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.progress = asyncio.Event()
        self.woken = asyncio.Event()
        self.woken.set()  # claim at once on start
        self.last_claim = float("-inf")
        #: The last claim found fewer rows than it asked for: poll, don't hammer.
        self.drained = False
        #: Rows marked ``sending`` by this run (what ``run`` returns).
        self.handled = 0
        #: Sends at once at most (the sender's connections): more would queue for a socket
        #: and time out there instead of waiting here.
        self.max_in_flight = owner.max_in_flight

    def held_ids(self) -> list[int]:
        """The rows this run holds (claimed or in flight): their leases are renewed."""
        return [r.id for r in self.waiting if r.id is not None] + list(self.in_flight)

    def take(self, rows: Sequence[OutboxMessage]) -> None:
        """Rows written claimed for this run's worker (a reply handed over): send them."""
        known = {r.id for r in self.waiting} | self.in_flight
        fresh = [r for r in rows if r.id not in known]
        if fresh:
            self.waiting.extend(fresh)
            self.waiting.sort(key=lambda r: (r.priority, r.id or 0))
            self.progress.set()

    async def run(self, stop: asyncio.Event | None, *, once: bool) -> int:
        """Send until ``stop`` (or, with ``once``, until one batch is done); rows handled."""
        self.owner.wake.events.append(self.woken)
        self.owner.runs.add(self)
        if not once:
            self.owner.live[self.channel] = self
        try:
            if once:
                await self._claim(self.owner.batch_size)
            while stop is None or not stop.is_set():
                if not once:
                    await self._refill()
                row = self._next_ready()
                if row is not None:
                    await self._start(row)
                elif once and not self.waiting and not self.tasks:
                    break
                else:
                    await self._idle(stop, once)
        finally:
            if self.owner.live.get(self.channel) is self:
                del self.owner.live[self.channel]
            self.owner.wake.events.remove(self.woken)
            try:
                await self._finish()
            finally:
                self.owner.runs.discard(self)
        return self.handled

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
        return self.last_claim + CLAIM_AGAIN

    async def _claim(self, limit: int) -> None:
        self.last_claim = self.owner.clock()
        rows = await asyncio.to_thread(self.owner.claim, self.channel, limit)
        self.drained = len(rows) < limit
        known = {r.id for r in self.waiting}  # a lapsed claim taken again is the same row
        fresh = [r for r in rows if r.id not in known]
        if fresh:
            self.waiting.extend(fresh)
            self.waiting.sort(key=lambda r: (r.priority, r.id or 0))

    def _next_ready(self) -> OutboxMessage | None:
        """The next row of the most urgent free recipient: that recipient's oldest row."""
        if len(self.tasks) >= self.max_in_flight:
            return None  # a send finishing sets ``progress``
        now = self.owner.clock()
        seen: set[str] = set()
        for row in self.waiting:
            if row.recipient in seen:
                continue
            seen.add(row.recipient)
            if row.recipient not in self.busy and self.pacer.ready_at(row.recipient) <= now:
                mine = (r for r in self.waiting if r.recipient == row.recipient)
                return min(mine, key=lambda r: r.id or 0)
        return None

    async def _start(self, row: OutboxMessage) -> None:
        self.waiting.remove(row)
        self.busy.add(row.recipient)
        # The slot first, then ``sending``: a crash while waiting for a slot leaves the row
        # claimed (sent later), not ``sending`` (perhaps delivered).
        await self.pacer.acquire(row.recipient)
        task = asyncio.create_task(self._mark_and_deliver(row))
        self.tasks.add(task)

    async def _mark_and_deliver(self, row: OutboxMessage) -> None:
        """Mark ``row`` sending (with the other rows starting now), then send it."""
        try:
            marked = await self.owner.marks.submit(row)
        except Exception:
            # The database is away: keep the row; the next claim fails too and the loop
            # restarts, giving back what it holds.
            log.warning("marking outbox row %s sending failed", row.id)
            self.waiting.append(row)
            self._forget(row)
            return
        if not marked:
            try:
                await self._give_back(row)
            except Exception:  # the database is away: the claims lapse and go back
                log.warning("giving back outbox row %s failed", row.id)
            finally:
                self._forget(row)
            return
        self.handled += 1
        if row.id is not None:
            self.in_flight.add(row.id)
        await self._deliver(row)

    def _forget(self, row: OutboxMessage) -> None:
        self.busy.discard(row.recipient)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.discard(task)
        self.progress.set()

    async def _give_back(self, row: OutboxMessage) -> None:
        """The row may not go now (claim lost, or an earlier row of the chat unsettled):
        give back it and the recipient's later rows, so the claims restore the order."""
        later = [r for r in self.waiting if r.recipient == row.recipient]
        self.waiting = [r for r in self.waiting if r.recipient != row.recipient]
        await asyncio.to_thread(self.owner.release, [row, *later])

    async def _deliver(self, row: OutboxMessage) -> None:
        try:
            outcome = await self._send_parts(row)
            status = await self.owner.records.submit((row, outcome))
            if status == OutboxStatus.PENDING or isinstance(outcome, Stopped):
                self._drop_held(row, everything=isinstance(outcome, Stopped))
        except Exception:
            log.exception("delivering outbox row %s failed", row.id)
        finally:
            self.in_flight.discard(row.id or 0)
            self._forget(row)

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
        full = len(self.tasks) >= self.max_in_flight  # then only a finished send wakes it
        wake_at = [
            self.pacer.ready_at(r.recipient)
            for r in self.waiting
            if r.recipient not in self.busy and not full
        ]
        if not once:
            wake_at.append(self._claim_due_at())
        timeout = min([self.idle_seconds, *(max(0.001, at - now) for at in wake_at)])
        self.progress.clear()
        events = [self.progress] if once else [self.progress, self.woken]
        if stop is not None:
            events.append(stop)
        await wait_any(events, timeout)

    async def _finish(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.waiting:
            rows, self.waiting = self.waiting, []
            await asyncio.to_thread(self.owner.release, rows)


async def wait_any(events: list[asyncio.Event], seconds: float) -> None:
    """Return when one of ``events`` is set, or after ``seconds``."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
