"""Replies handed straight to the dispatcher, on both databases: written claimed in the
message's own transaction, sent without a claim, and never lost or doubled when the
hand-off does not happen."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from conftest import FakeClock
from sqlmodel import col, select
from test_dispatcher import FAST, Recorder, eventually, put

from bot.conversation import Answered, Incoming
from bot.engine import Input
from bot.services import Services
from notifications import claims
from notifications.dispatcher import Dispatcher
from notifications.handoff import HandOff
from notifications.outbox import OutboxMessage, OutboxStatus, Priority

_ids = itertools.count()


def say(services: Services, chat: str, given: Input) -> Answered:
    """A message of ``chat`` on the outbox channel ``test``, through the real service."""
    message = Incoming("test", f"m{next(_ids)}", chat, given, language="zh_CN")
    return services.conversations.receive(message)


def rows(services: Services, chat: str) -> list[OutboxMessage]:
    with services.db.read() as db:
        query = select(OutboxMessage).where(OutboxMessage.recipient == chat)
        return list(db.exec(query.order_by(col(OutboxMessage.id))))


def dispatcher_for(services: Services, sender: Recorder) -> Dispatcher:
    dispatcher = Dispatcher(services.db, {"test": sender}, now=services.clock, limits=FAST)
    services.conversations.outbox_channels = frozenset({"test"})
    services.conversations.taker = dispatcher
    return dispatcher


async def test_replies_are_handed_over_and_sent_without_a_claim(services: Services) -> None:
    sender = Recorder()
    dispatcher = dispatcher_for(services, sender)
    claimed: list[int] = []

    def no_claims(channel: str, limit: int) -> list[OutboxMessage]:
        claimed.append(limit)
        return []

    dispatcher.claim = no_claims  # type: ignore[method-assign]  # only a hand-off can deliver
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher.run_forever(stop, idle_seconds=0.05))
    try:
        await eventually(lambda: "test" in dispatcher.live)
        answered = await asyncio.to_thread(say, services, "c1", Input(start=True))
        assert answered.handed, "the loop runs here: the replies are written claimed"
        assert {r.claimed_by for r in answered.handed} == {dispatcher.worker}
        assert [r.payload for r in answered.handed] == [r.to_json() for r in answered.replies]
        dispatcher.offer("test", answered.handed)
        await eventually(lambda: len(sender.sent) == len(answered.replies))
    finally:
        stop.set()
        await loop
    assert sender.sent == [r.text for r in answered.replies], "in order"
    assert {r.status for r in rows(services, "c1")} == {OutboxStatus.SENT}


async def test_without_a_running_loop_the_replies_wait_to_be_claimed(services: Services) -> None:
    sender = Recorder()
    dispatcher = dispatcher_for(services, sender)
    answered = say(services, "c2", Input(start=True))  # the loop is not running
    assert answered.handed == ()
    assert {r.status for r in rows(services, "c2")} == {OutboxStatus.PENDING}
    await dispatcher.run_once()
    assert sender.sent == [r.text for r in answered.replies]


async def test_a_chat_another_worker_holds_is_not_handed_over(
    services: Services,
) -> None:
    dispatcher_for(services, Recorder())
    put(services, "c3", "earlier notice", Priority.NOTICE)
    with services.db.write() as db:  # another process holds the chat's earlier row
        taken = claims.claim(
            db, worker="other", channel="test", now=services.clock(), limit=5,
            lease=timedelta(minutes=1), use_skip_locked=not services.db.is_sqlite,
        )  # fmt: skip
    assert len(taken) == 1

    class Live:
        def handoff(self, channel: str) -> HandOff:
            return HandOff("here", services.clock() + timedelta(minutes=1))

        def offer(self, channel: str, rows: object) -> None:
            raise AssertionError("nothing to hand over")

    services.conversations.taker = Live()
    answered = say(services, "c3", Input(start=True))
    assert answered.handed == ()
    replies = [r for r in rows(services, "c3") if r.priority == Priority.INTERACTIVE]
    assert replies and {r.status for r in replies} == {OutboxStatus.PENDING}


async def test_rows_never_handed_over_are_sent_once_their_lease_lapses(
    services: Services, clock: FakeClock
) -> None:
    class Vanished:  # the process died between the commit and the hand-off
        def handoff(self, channel: str) -> HandOff:
            return HandOff("vanished", services.clock() + timedelta(seconds=60))

        def offer(self, channel: str, rows: object) -> None:
            raise AssertionError("the process is gone")

    sender = Recorder()
    dispatcher = dispatcher_for(services, sender)
    services.conversations.taker = Vanished()
    answered = say(services, "c4", Input(start=True))
    assert {r.status for r in rows(services, "c4")} == {OutboxStatus.CLAIMED}
    assert await dispatcher.run_once() == 0, "held by the vanished worker: not taken"
    clock.advance(seconds=61)
    dispatcher.beat()  # a live worker's heartbeat frees the lapsed claims
    await dispatcher.run_once()
    assert sender.sent == [r.text for r in answered.replies], "each once, in order"
    assert {r.status for r in rows(services, "c4")} == {OutboxStatus.SENT}
