"""Benchmark: the outbox dispatcher draining a bulk backlog to Telegram within its limits.

A fake Bot API server (``tests/fakes/telegram_api.py``, real HTTP on 127.0.0.1, in its own
process as Telegram would be) enforces 30 messages per second overall and answers 429
beyond it. The outbox (SQLite in a temporary
directory, or ``--database-url``) holds N bulk messages (default 10,000) to N different
chats; while they drain, interactive replies arrive at a steady rate (default 2/s, as
the webhook would write them) and wake the dispatcher. Printed: the achieved send rate
against the limit, the 429s received (all, and after the first seconds), duplicates
(a chat receiving one message twice; must be 0), and the interactive replies' p50/p95
latency from the moment they were queued to the moment Telegram received them.

    .venv/bin/python bench/telegram_dispatch.py --bulk 10000 --interactive-rate 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.telegram_api import FakeTelegram
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.channels.telegram_sender import TelegramSender
from bot.services import upgrade
from intake.db import Database, import_models
from notifications.dispatcher import Dispatcher
from notifications.outbox import OutboxStatus, Priority, enqueue, pending_count
from notifications.ratelimit import Limits

LIMIT = 30
WARMUP_SECONDS = 5.0


def queue_bulk(db: Database, count: int) -> None:
    """``count`` reminders to ``count`` different chats, in one transaction."""
    with db.write() as session:
        for n in range(count):
            enqueue(
                session,
                channel="telegram",
                recipient=str(1_000_000 + n),
                payload={"text": f"本月帮扶走访提醒 #{n}", "buttons": []},
                priority=Priority.BULK,
            )


async def interactive_stream(
    db: Database, dispatcher: Dispatcher, rate: float, stop: asyncio.Event, queued: dict[str, float]
) -> None:
    """Replies to villagers typing, queued at ``rate`` per second, each waking the dispatcher."""
    rng = random.Random(7)
    n = 0
    while not stop.is_set():
        await asyncio.sleep(rng.expovariate(rate))
        n += 1
        text = f"收到，请回答下一个问题 #{n}"
        chat = str(5_000_000 + rng.randrange(2_000))

        def write(chat: str = chat, text: str = text) -> None:
            with db.write() as session:
                enqueue(
                    session,
                    channel="telegram",
                    recipient=chat,
                    payload={"text": text, "buttons": [{"label": "是", "data": "q:yes"}]},
                    priority=Priority.INTERACTIVE,
                )

        asked = time.monotonic()  # latency counts the outbox write too
        await asyncio.to_thread(write)
        queued[text] = asked
        dispatcher.wake.set()


def sent_bulk(db: Database) -> int:
    with db.read() as session:
        from sqlmodel import col, func, select

        from notifications.outbox import OutboxMessage

        query = select(func.count()).where(
            col(OutboxMessage.priority) == Priority.BULK,
            col(OutboxMessage.status).not_in([OutboxStatus.PENDING, OutboxStatus.CLAIMED]),
        )
        return int(session.exec(query).one())


async def run(bulk: int, rate: float, database_url: str) -> None:
    import_models()
    upgrade(database_url)
    db = Database(database_url)
    queue_bulk(db, bulk)
    with FakeServerProcess() as tg:
        request = HTTPXRequest(connection_pool_size=64, read_timeout=10, connect_timeout=5)
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request)
        async with bot:
            dispatcher = Dispatcher(db, {"telegram": TelegramSender(bot)}, limits=Limits())
            stop, queued = asyncio.Event(), {}
            started = time.monotonic()
            loop = asyncio.create_task(dispatcher.run_forever(stop))
            stream = asyncio.create_task(interactive_stream(db, dispatcher, rate, stop, queued))
            while sent_bulk(db) < bulk:
                await asyncio.sleep(1.0)
                done = sent_bulk(db)
                if int(time.monotonic() - started) % 30 == 0:
                    print(f"{time.monotonic() - started:6.0f} s  bulk sent {done:6d}", flush=True)
            stop.set()
            await asyncio.gather(loop, stream)
        report(tg.calls(), db, queued, started)


class FakeServerProcess:
    """The fake Bot API in a child process (its clock, ``time.monotonic``, is system-wide)."""

    def __enter__(self) -> FakeServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.token, self.base_url = hello["token"], hello["base_url"]
        self.base_file_url = hello["base_file_url"]
        return self

    def calls(self) -> list[dict[str, object]]:
        """Every call the fake answered: method, chat, text, arrival time, status."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("calls\n")
        self.process.stdin.flush()
        return list(json.loads(self.process.stdout.readline()))

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def serve_fake() -> None:
    """Child mode: run the fake, print its address, answer "calls" on stdin with JSON."""
    with FakeTelegram(rate_limit_per_second=LIMIT) as tg:
        hello = {"token": tg.token, "base_url": tg.base_url, "base_file_url": tg.base_file_url}
        print(json.dumps(hello), flush=True)
        for _line in sys.stdin:
            calls = [
                {"method": c.method, "chat": c.chat_id, "text": c.params.get("text"),
                 "at": c.at, "status": c.status}
                for c in tg.calls
            ]  # fmt: skip
            print(json.dumps(calls, ensure_ascii=False), flush=True)


def report(
    calls: list[dict[str, Any]], db: Database, queued: dict[str, float], started: float
) -> None:
    sends = [c for c in calls if c["method"] == "sendMessage"]
    ok = sorted((c for c in sends if c["status"] == 200), key=lambda c: c["at"])
    limited = [c for c in sends if c["status"] == 429]
    steady = [c for c in limited if c["at"] - started > WARMUP_SECONDS]
    span = ok[-1]["at"] - ok[0]["at"] if len(ok) > 1 else float("nan")
    sent_rate = (len(ok) - 1) / span
    duplicates = sum(n - 1 for n in Counter((c["chat"], c["text"]) for c in ok).values())
    latencies = [c["at"] - queued[c["text"]] for c in ok if c["text"] in queued]
    with db.read() as session:
        waiting = pending_count(session, "telegram")
    print(f"messages delivered    {len(ok)} in {span:.1f} s")
    print(f"send rate             {sent_rate:.2f}/s against a limit of {LIMIT}/s "
          f"= {100 * sent_rate / LIMIT:.1f} %")  # fmt: skip
    print(f"429 answers           {len(limited)} (after the first {WARMUP_SECONDS:.0f} s: "
          f"{len(steady)})")  # fmt: skip
    print(f"duplicates            {duplicates}")
    print(f"rows still pending    {waiting} (interactive replies queued as the run ended)")
    if latencies:
        p95 = statistics.quantiles(latencies, n=20)[18]
        print(f"interactive replies   {len(latencies)}: p50 {statistics.median(latencies):.3f} s, "
              f"p95 {p95:.3f} s, max {max(latencies):.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--interactive-rate", type=float, default=2.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake()
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        asyncio.run(run(args.bulk, args.interactive_rate, url))


if __name__ == "__main__":
    main()
