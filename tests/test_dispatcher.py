"""The dispatcher on both databases: urgent first, in order per chat, never twice, and
never leaving a villager waiting after a crash, a timeout or a second process."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import FakeClock
from fakes.telegram_api import Call, FakeTelegram
from sqlmodel import select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.channels.telegram_sender import TelegramSender
from bot.conversation import Incoming
from bot.engine import Input
from bot.services import Services
from intake.db import Database
from notifications import claims
from notifications.dispatcher import Dispatcher, RetryPolicy
from notifications.outbox import OutboxMessage, OutboxStatus, Priority, enqueue
from notifications.ratelimit import Limits
from notifications.sealing import open_payload
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


def put(
    services: Services, recipient: str, text: str, priority: Priority, channel: str = "test"
) -> None:
    with services.db.write() as db:
        enqueue(
            db,
            channel=channel,
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


# ------------------------------------------------------------------ issue 9: faults and order


class Arrivals:
    """A channel shared by several workers: the order messages arrive in, per recipient.

    Each send takes a seeded random few milliseconds, as a network would, so two sends to one
    chat started together by two workers may arrive either way round.
    """

    channel = "test"

    def __init__(self, log: list[tuple[str, str]], seed: int) -> None:
        self.log = log
        self.rng = random.Random(seed)

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        await asyncio.sleep(self.rng.random() / 100)
        self.log.append((recipient, str(payload["text"])))
        return Delivered()


async def run_until(
    dispatchers: list[Dispatcher], done: Callable[[], object], idle_seconds: float = 0.02
) -> None:
    """Run ``dispatchers`` as live loops until ``done()``, then stop them."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(d.run_forever(stop, idle_seconds=idle_seconds)) for d in dispatchers
    ]
    try:
        await eventually(done)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_restart_sends_at_once_what_a_dead_worker_had_claimed(
    services: Services,
) -> None:
    for n in range(3):
        put(services, f"v{n}", f"reply{n}", Priority.INTERACTIVE)
    put(services, "w", "notice", Priority.NOTICE)
    with services.db.write() as db:  # a worker claims everything, starts one send, dies
        rows = claims.claim(
            db, worker="killed", channel="test", now=services.clock(), limit=10,
            lease=timedelta(minutes=5), use_skip_locked=not services.db.is_sqlite,
        )  # fmt: skip
        notice = next(
            r.id for r in rows if open_payload(r.payload, services.cipher)["text"] == "notice"
        )
        claims.mark_sending(
            db, row_id=notice, worker="killed", now=services.clock(), lease=timedelta(minutes=5)
        )
    sender = Recorder()
    restarted = Dispatcher(services.db, {"test": sender}, now=services.clock, limits=FAST)
    await run_until([restarted], lambda: len(sender.sent) == 3)  # the clock does not move
    assert sorted(sender.sent) == ["reply0", "reply1", "reply2"]  # the notice: perhaps sent


async def test_two_processes_keep_each_chats_order(services: Services) -> None:
    chats = 30
    # Villagers write one after another; each answer is a reply of three messages.
    order = [f"{turn}.{part}" for turn in range(2) for part in range(3)]
    for turn in range(2):
        for chat in range(chats):
            for part in range(3):
                put(services, f"c{chat}", f"{turn}.{part}", Priority.INTERACTIVE)
    arrived: list[tuple[str, str]] = []
    # An engine each, with the service key, as two processes have.
    processes = [Database(services.db.url, sealer=services.cipher) for _ in range(2)]
    workers = [
        Dispatcher(
            db, {"test": Arrivals(arrived, seed)}, now=services.clock, limits=FAST, lookahead=4
        )
        for seed, db in enumerate(processes)
    ]
    try:
        await run_until(workers, lambda: len(arrived) >= chats * len(order))
    finally:
        for db in processes:
            db.dispose()
    assert len(arrived) == chats * len(order)  # nothing twice
    for chat in range(chats):
        assert [text for who, text in arrived if who == f"c{chat}"] == order, f"c{chat}"


@pytest.fixture(scope="module")
def telegram_api() -> Iterator[FakeTelegram]:
    with FakeTelegram(timeout_hold=5) as tg:
        yield tg


@pytest.fixture
async def bot(telegram_api: FakeTelegram) -> AsyncIterator[Bot]:
    telegram_api.reset()
    request = HTTPXRequest(read_timeout=0.5, connect_timeout=1, connection_pool_size=16)
    async with Bot(telegram_api.token, base_url=telegram_api.base_url, request=request) as started:
        yield started
    telegram_api.reset()


def telegram_dispatcher(services: Services, bot: Bot, attempts: int = 8) -> Dispatcher:
    return Dispatcher(
        services.db,
        {"telegram": TelegramSender(bot)},
        now=services.clock,
        limits=Limits(per_second=200, per_recipient_interval=0.0),
        retry=RetryPolicy(max_attempts=attempts),
    )


async def test_timed_out_replies_are_sent_again_and_a_timed_out_notice_is_not(
    services: Services, bot: Bot, telegram_api: FakeTelegram, clock: FakeClock
) -> None:
    villagers = [8101 + n for n in range(5)]
    for chat in [*villagers, 8200]:
        telegram_api.fail_next("sendMessage", "timeout", chat_id=chat)  # no answer in time
    for chat in villagers:
        put(services, str(chat), "请问是为谁申请？", Priority.INTERACTIVE, channel="telegram")
    put(services, "8200", "本月走访提醒", Priority.NOTICE, channel="telegram")
    dispatcher = telegram_dispatcher(services, bot)
    await dispatcher.run_once()
    telegram_api.release_held()
    clock.advance(minutes=1)
    dispatcher.recover()
    await dispatcher.run_once()
    for chat in villagers:
        assert telegram_api.sent_texts(chat) == ["请问是为谁申请？"]
    assert telegram_api.sent_texts(8200) == []  # at most once: a person looks at it
    with services.db.read() as db:
        notice = db.exec(select(OutboxMessage).where(OutboxMessage.recipient == "8200")).one()
    assert notice.status == OutboxStatus.UNKNOWN


async def test_a_villager_who_writes_again_after_a_lost_reply_is_asked_the_current_question(
    services: Services, bot: Bot, telegram_api: FakeTelegram, clock: FakeClock
) -> None:
    chat, count = 8301, itertools.count()
    dispatcher = telegram_dispatcher(services, bot, attempts=2)

    def write(given: Input) -> None:
        message = Incoming("telegram", f"u{next(count)}", str(chat), given, language="zh_CN")
        services.conversations.receive(message)

    write(Input(start=True))
    await dispatcher.run_once()
    greeted = telegram_api.sent_messages(chat)
    apply = next(
        b for row in keyboard(greeted[-1]) for b in row if b["callback_data"].endswith(":apply")
    )
    telegram_api.fail_next("sendMessage", "timeout", count=2, chat_id=chat)
    write(Input(data=apply["callback_data"]))
    for _ in range(2):  # every attempt times out: the question is lost for good
        await dispatcher.run_once()
        telegram_api.release_held()
        clock.advance(minutes=1)
    assert telegram_api.sent_messages(chat) == greeted
    write(Input(text="在吗？"))
    await dispatcher.run_once()
    asked = telegram_api.sent_messages(chat)[-1]
    steps = {b["callback_data"].split(":")[0] for row in keyboard(asked) for b in row}
    assert steps - {"g"} == {"for_whom"}  # the question the villager never saw


def keyboard(call: Call) -> list[list[dict[str, str]]]:
    markup = call.params.get("reply_markup") or {}
    return list(markup.get("inline_keyboard", []))


async def test_sends_under_way_at_once_stay_within_the_bound(services: Services) -> None:
    for n in range(40):
        put(services, f"b{n}", f"m{n}", Priority.INTERACTIVE)
    under_way, most = 0, 0

    class Slow(Recorder):
        async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
            nonlocal under_way, most
            under_way += 1
            most = max(most, under_way)
            await asyncio.sleep(0.02)
            under_way -= 1
            return await super().send(recipient, payload)

    sender = Slow()
    dispatcher = Dispatcher(
        services.db, {"test": sender}, now=services.clock, limits=FAST, max_in_flight=4
    )
    while len(sender.sent) < 40:
        await dispatcher.run_once()
    assert most <= 4
    assert sorted(sender.sent) == sorted(f"m{n}" for n in range(40))
