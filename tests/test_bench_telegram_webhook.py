"""The Telegram benchmark's machinery at small scale: counts, never timings.

The same processes as a full run (the fake Bot API in its own process, ``hotline serve``
as a subprocess - two of them on PostgreSQL, behind the generator's round robin - the
stock PTB bot, client processes posting Telegram-shaped updates), with four villagers,
two at a time. What is checked is what the benchmark's figures rely on: every step got
its reply, nothing was sent twice, a 2xx meant stored and answered, a redelivered update
changed nothing - and that the counting would see a doubled reply if there were one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import telegram_webhook as bench
from telegram_webhook_support import SECRET, FakeProcess, our_service, ours_guarantees, stock_bot

pytestmark = pytest.mark.slow
VILLAGERS, AT_ONCE, CLIENTS = 4, 2, 2


def sends_to(fake: FakeProcess, chat: int) -> int:
    return int(fake.summary()["ok"].get(str(chat), {}).get("sendMessage", 0))


def test_our_service_answers_each_step_once_and_redelivery_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    processes = 2 if database_url.startswith("postgresql") else 1
    with (
        FakeProcess() as fake,
        our_service(fake, tmp_path, database_url, processes, paced=False) as (
            _servers,
            hooks,
            url,
        ),
    ):
        run = bench.drive("ours", hooks, fake, VILLAGERS, AT_ONCE, CLIENTS, bench.OURS_SHORT)
        found = ours_guarantees(run.replies, run.sample, hooks[0], url, fake)

    assert run.errors == []
    assert run.steps == VILLAGERS * len(bench.OURS_SHORT)
    # /start greets, then shows the menu; every other step is one question.
    expected = [2] + [1] * (len(bench.OURS_SHORT) - 1)
    assert run.replies == {bench.CHAT_BASE["ours"] + n: expected for n in range(VILLAGERS)}
    assert found.inbound == {"processed": run.steps}, "each 2xx: stored and answered"
    assert found.sends_seen == found.sends_at_fake == VILLAGERS * sum(expected)
    presses = sum(kind == "press" for kind, _ in bench.OURS_SHORT) * VILLAGERS
    assert found.outbox == {"sent": found.sends_at_fake + presses}, "each row sent once"
    assert found.calls_at_fake == found.outbox["sent"]
    assert run.sample is not None and "callback_query" in run.sample
    assert found.redelivery_status == 200
    assert found.redelivery_changed == []
    assert found.ok()


def test_stock_bot_answers_each_step_once_and_a_doubled_reply_is_counted() -> None:
    with FakeProcess() as fake, stock_bot(fake) as (_server, hook):
        run = bench.drive("stock", [hook], fake, VILLAGERS, AT_ONCE, CLIENTS, bench.STOCK)
        chats = [bench.CHAT_BASE["stock"] + n for n in range(VILLAGERS)]
        sent = {chat: sends_to(fake, chat) for chat in chats}

        # The stock bot keeps no record of updates: a redelivered /start is answered again,
        # and the counts the benchmark relies on see that second reply.
        start = bench.message_update(1, chats[0], "/start")
        headers = {"x-telegram-bot-api-secret-token": SECRET}
        assert httpx.post(hook, json=start, headers=headers, timeout=30).status_code == 200
        assert httpx.post(hook, json=start, headers=headers, timeout=30).status_code == 200
        twice = sends_to(fake, chats[0])

    assert run.errors == []
    assert run.steps == VILLAGERS * len(bench.STOCK)
    assert run.replies == {chat: [1] * len(bench.STOCK) for chat in chats}
    assert sent == {chat: len(bench.STOCK) for chat in chats}
    assert twice == len(bench.STOCK) + 2
