"""The dispatcher on both databases: urgent first, in order per recipient, never twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from conftest import FakeClock

from bot.services import Services
from notifications.dispatcher import Dispatcher
from notifications.outbox import Priority, enqueue
from notifications.ratelimit import Limits
from notifications.sender import Delivered, Outcome, RetryLater

FAST = Limits(per_second=50, per_recipient_interval=0.0)


class Recorder:
    """A channel that records what it was given; ``fail`` maps a text to an outcome."""

    channel = "test"

    def __init__(self, fail: dict[str, Outcome] | None = None) -> None:
        self.sent: list[str] = []
        self.fail = fail or {}

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        text = str(payload["text"])
        if text in self.fail:
            return self.fail.pop(text)
        self.sent.append(text)
        await asyncio.sleep(0)
        return Delivered()


async def eventually(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def put(services: Services, recipient: str, text: str, priority: Priority) -> None:
    with services.db.write() as db:
        enqueue(
            db,
            channel="test",
            recipient=recipient,
            payload={"text": text},
            priority=priority,
            now=services.clock(),
        )


async def test_a_reply_overtakes_a_backlog_of_reminders(services: Services) -> None:
    for n in range(150):
        put(services, f"r{n}", f"bulk{n}", Priority.BULK)
    sender = Recorder()
    dispatcher = Dispatcher(services.db, {"test": sender}, now=services.clock, limits=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop, idle_seconds=0.05))
    await eventually(lambda: len(sender.sent) >= 20)
    put(services, "villager", "reply", Priority.INTERACTIVE)
    dispatcher.wake.set()
    position = len(sender.sent)
    await eventually(lambda: "reply" in sender.sent)
    stop.set()
    await task
    assert sender.sent.index("reply") <= position + 3
    assert len(sender.sent) < 150


async def test_a_retry_keeps_the_recipients_order(services: Services, clock: FakeClock) -> None:
    for text in ("one", "two", "three"):
        put(services, "a", text, Priority.INTERACTIVE)
    put(services, "b", "other", Priority.INTERACTIVE)
    sender = Recorder(fail={"one": RetryLater("HTTP 502")})
    dispatcher = Dispatcher(services.db, {"test": sender}, now=services.clock, limits=FAST)
    await dispatcher.run_once()
    assert sender.sent == ["other"]
    clock.advance(minutes=10)
    await dispatcher.run_once()
    assert sender.sent == ["other", "one", "two", "three"]


async def test_two_workers_never_send_one_row_twice(services: Services) -> None:
    for n in range(120):
        put(services, f"r{n % 40}", f"m{n}", Priority.BULK)
    senders = [Recorder(), Recorder()]
    workers = [
        Dispatcher(services.db, {"test": s}, now=services.clock, limits=FAST, lookahead=10)
        for s in senders
    ]

    async def drain(worker: Dispatcher) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    everything = senders[0].sent + senders[1].sent
    assert sorted(everything) == sorted(f"m{n}" for n in range(120))
