"""Benchmark: villagers over Telegram's wire, this service against the stock PTB way.

Three kinds of process besides this one: a fake Bot API (``tests/fakes/telegram_api.py``,
no rate limits) that also lets clients wait for a chat's next reply; the systems under
test, each a real server - ``hotline serve`` (webhook mode, SQLite in a temporary
directory, or PostgreSQL with ``--workers`` processes behind a round robin in the load
generator, since ``hotline serve`` has no workers option) and ``bench/stock_ptb_bot.py``
(PTB's ``ConversationHandler`` behind FastAPI, state in memory, one process: that state
cannot be shared); and the load generator's client processes. Each simulated villager
posts a Telegram-shaped update (``message`` or ``callback_query`` with the data of a button
the bot really sent), waits until the reply reaches the fake, then takes the next step.
Step latency runs from the post to the reply's arrival at the fake (both clocks are the
system's monotonic clock). Printed for both: messages per second, p50/p99 step latency,
peak RSS and CPU of the server(s); the generator's and the fake's CPU; the ratio; and for
this service its guarantees, counted afterwards (every step answered once, no row sent
twice, a redelivered update changes nothing).

Our villagers take the first 15 steps of the real self-application (``--full``: all 27, to
the tracking code); the stock bot's mini application has 15. Simulated villagers tap at
once, so our outbound pacing (1 message a second per chat after a burst of 3, 30 a second
overall) would measure the pacer, not the service: it is opened up unless ``--paced``.

    .venv/bin/python bench/telegram_webhook.py --villagers 400 --concurrency 32
    .venv/bin/python bench/telegram_webhook.py --database postgresql --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.telegram_api import webhook_call
from processes import peak_rss_mb
from telegram_webhook_support import (
    SECRET,
    FakeProcess,
    our_service,
    ours_guarantees,
    postgres_schema,
    proc_cpu,
    py_spy,
    stock_bot,
    top_frames,
)

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OURS_SHORT: list[tuple[str, str]] = [
    ("type", "/start"),
    ("press", "申请防返贫监测"),
    ("press", "给自己家申请"),
    ("press", "柏岭村"),
    ("press", "是"),
    ("type", "35000"),
    *[("press", "否")] * 6,
    ("press", "3人"),
    ("type", "24000"),
    ("type", "30000"),
]
OURS_FULL = [
    *OURS_SHORT,
    ("type", "0"),
    *[("press", "否")] * 6,
    ("type", "王大山"),
    ("type", "{id_number}"),
    ("type", "13812345678"),
    ("press", "同意"),
    ("press", "确认提交"),
]
STOCK = [
    ("type", "/start"),
    ("press", "申请防返贫监测"),
    ("press", "给自己家申请"),
    ("press", "柏岭村"),
    *[("press", "否")] * 8,
    ("press", "3人"),
    ("type", "王大山"),
    ("press", "确认提交"),
]
CHAT_BASE = {"ours": 7_000_000, "stock": 8_000_000}


@dataclass
class Run:
    """What the load generator saw for one system."""

    latencies: list[float] = field(default_factory=list)
    replies: dict[int, list[int]] = field(default_factory=dict)  # chat -> messages per step
    errors: list[str] = field(default_factory=list)
    sample: dict[str, Any] | None = None  # one posted callback update, for redelivery
    elapsed: float = 0.0
    client_cpu: float = 0.0
    resent: int = 0

    @property
    def steps(self) -> int:
        return len(self.latencies)


# ----------------------------------------------------------------- Telegram-shaped updates


def user(chat: int) -> dict[str, Any]:
    return {"id": chat, "is_bot": False, "first_name": f"村民{chat}", "language_code": "zh-hans"}


def message_update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    """A private ``message`` update as Telegram posts it (commands carry their entity)."""
    message: dict[str, Any] = {
        "message_id": 1_000_000 + update_id % 1000,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": f"村民{chat}"},
        "from": user(chat),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


def callback_update(
    update_id: int, chat: int, message: dict[str, Any], label: str
) -> dict[str, Any]:
    """A button press on ``message`` (the bot's message as the fake stored it)."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    data = [b["callback_data"] for row in rows for b in row if b["text"] == label]
    if not data:
        raise LookupError(f"no button {label!r} under message {message.get('message_id')}")
    query = {
        "id": str(update_id),
        "from": user(chat),
        "chat_instance": f"ci{chat}",
        "message": message,
        "data": data[0],
    }
    return {"update_id": update_id, "callback_query": query}


# ----------------------------------------------------------------- one client process


@dataclass
class ClientSpec:
    """What one load-generator process does: its villagers, its targets, how many at once."""

    system: str
    targets: list[str]
    watch_url: str
    api_url: str
    script: list[tuple[str, str]]
    villagers: list[int]
    in_flight: int


async def post(
    http: httpx.AsyncClient, url: str, update: dict[str, Any], api_url: str
) -> tuple[int, int]:
    """POST one update as Telegram does; a connection the server closed is tried again.
    A Bot API call in the webhook's answer is carried out, as Telegram does."""
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    for attempt in range(3):
        try:
            response = await http.post(url, json=update, headers=headers)
            call = webhook_call(response.status_code, response.headers, response.content)
            if call is not None:
                method, params = call
                await http.post(api_url + method, json=params)
            return response.status_code, attempt
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def villager(http: httpx.AsyncClient, spec: ClientSpec, n: int, run: Run) -> None:
    """One villager's whole script: post, wait for the reply at the fake, next step."""
    chat = CHAT_BASE[spec.system] + n
    seen, counts, last = 0, list[int](), dict[str, Any]()
    run.replies[chat] = counts
    for i, (kind, value) in enumerate(spec.script):
        update_id = CHAT_BASE[spec.system] * 10 + n * 100 + i
        if kind == "type":
            update = message_update(update_id, chat, value.format(id_number=id_number(n)))
        else:
            update = callback_update(update_id, chat, last, value)
            if run.sample is None and i >= 3:
                run.sample = update
        started = time.monotonic()
        target = spec.targets[(n + i) % len(spec.targets)]
        status, resent = await post(http, target, update, spec.api_url)
        run.resent += resent
        if status != 200:
            run.errors.append(f"chat {chat} step {i}: HTTP {status}")
            return
        got = await http.get(spec.watch_url, params={"chat": chat, "after": seen, "timeout": 30})
        reply = got.json()
        if not reply:
            run.errors.append(f"chat {chat} step {i}: no reply within 30 s")
            return
        run.latencies.append(reply[-1]["at"] - started)
        counts.append(len(reply))
        seen += len(reply)
        last = reply[-1]["message"]


async def client(spec: ClientSpec) -> Run:
    run = Run()
    queue = list(spec.villagers)
    limits = httpx.Limits(max_connections=2 * spec.in_flight, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def worker() -> None:
            while queue:
                await villager(http, spec, queue.pop(0), run)

        await asyncio.gather(*(worker() for _ in range(spec.in_flight)))
    return run


def client_main(spec: ClientSpec, ready: Any, go: Any, results: Any) -> None:
    """Entry of a client process: wait for the start signal, run, report."""
    ready.put(os.getpid())
    go.wait()
    cpu0, started = _own_cpu(), time.monotonic()
    run = asyncio.run(client(spec))
    run.elapsed = time.monotonic() - started
    run.client_cpu = _own_cpu() - cpu0
    results.put((started, time.monotonic(), run))


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drive(
    system: str, targets: list[str], fake: FakeProcess, villagers: int, concurrency: int,
    clients: int, script: list[tuple[str, str]],
) -> Run:  # fmt: skip
    """Run every villager across ``clients`` processes, ``concurrency`` villagers at once."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    clients = max(1, min(clients, concurrency, villagers))
    specs = [
        ClientSpec(system, targets, fake.watch_url, f"{fake.base_url}{fake.token}/", script,
                   list(range(k, villagers, clients)), len(range(k, concurrency, clients)))
        for k in range(clients)
    ]  # fmt: skip
    processes = [context.Process(target=client_main, args=(s, ready, go, results)) for s in specs]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    go.set()
    parts = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    total = Run(elapsed=max(p[1] for p in parts) - min(p[0] for p in parts))
    for _start, _end, part in parts:
        total.latencies += part.latencies
        total.replies.update(part.replies)
        total.errors += part.errors
        total.client_cpu += part.client_cpu
        total.resent += part.resent
        total.sample = total.sample or part.sample
    return total


def id_number(n: int) -> str:
    from intake.identity import id_check_digit

    first17 = f"421223{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


# ----------------------------------------------------------------- report


def report(name: str, run: Run, servers: list[subprocess.Popen[bytes]], cpu0: float) -> float:
    """Print one system's line; return its messages per second."""
    rate = run.steps / run.elapsed if run.elapsed else float("nan")
    ordered = sorted(run.latencies) or [float("nan")]
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    rss = sum(peak_rss_mb(s.pid) for s in servers)
    cpu = sum(proc_cpu(s.pid) for s in servers) - cpu0
    print(
        f"{name:<26} {run.steps:>6} steps {run.elapsed:>6.1f} s {rate:>7.1f} msg/s  "
        f"p50 {statistics.median(ordered) * 1000:>6.0f} ms  p99 {p99 * 1000:>6.0f} ms  "
        f"peak RSS {rss:>5.0f} MB  server CPU {cpu:>5.1f} s  errors {len(run.errors)}",
        flush=True,
    )
    print(f"{'':<26} load generator CPU {run.client_cpu:.1f} s over {run.elapsed:.1f} s; "
          f"reposts after a closed connection {run.resent}")  # fmt: skip
    for error in run.errors[:5]:
        print(f"{'':<26} ! {error}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villagers", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("HOTLINE_TEST_PG", PG_SERVER))
    parser.add_argument("--workers", type=int, default=1, help="hotline serve processes (PG)")
    parser.add_argument("--full", action="store_true", help="our whole 27-step application")
    parser.add_argument("--paced", action="store_true", help="keep our Telegram pacing")
    parser.add_argument("--only", choices=["ours", "stock"], default=None)
    parser.add_argument("--py-spy", type=Path, help="profile our (first) server into this file")
    args = parser.parse_args()
    if args.workers > 1 and args.database == "sqlite":
        parser.error("several processes need --database postgresql")
    script = OURS_FULL if args.full else OURS_SHORT
    print(f"{args.villagers} villagers, {args.concurrency} at once, {args.clients} client "
          f"processes; ours: {len(script)} steps on {args.database} x {args.workers} process(es)"
          f"{', paced' if args.paced else ''}; stock: {len(STOCK)} steps, 1 process; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hotline-tgbench-") as tmp, FakeProcess() as fake:
        if args.only != "stock":
            rates["ours"] = run_ours(args, fake, Path(tmp), script)
        if args.only != "ours":
            with stock_bot(fake) as (server, hook):
                cpu0 = proc_cpu(server.pid)
                run = drive("stock", [hook], fake, args.villagers, args.concurrency,
                            args.clients, STOCK)  # fmt: skip
                rates["stock"] = report("stock PTB ConversationHandler", run, [server], cpu0)
            print(f"{'':<26} nothing stored: a restart forgets every conversation")
        print(f"fake Bot API CPU {fake.cpu():.1f} s")
    if len(rates) == 2:
        print(f"throughput ours / stock = {rates['ours'] / rates['stock']:.2f}")


def run_ours(
    args: argparse.Namespace, fake: FakeProcess, work: Path, script: list[tuple[str, str]]
) -> float:
    """Drive this service, print its line and its guarantees; return its messages/s."""
    with ExitStack() as stack:
        pg = None
        if args.database == "postgresql":
            pg = stack.enter_context(postgres_schema(args.pg_url))
        servers, hooks, url = stack.enter_context(
            our_service(fake, work, pg, args.workers, args.paced)
        )
        cpu0 = sum(proc_cpu(s.pid) for s in servers)
        with py_spy(servers[0].pid, args.py_spy):
            run = drive("ours", hooks, fake, args.villagers, args.concurrency,
                        args.clients, script)  # fmt: skip
        rate = report(f"hotline ({args.database} x{args.workers})", run, servers, cpu0)
        checks = ours_guarantees(run.replies, run.sample, hooks[0], url, fake)
        print(f"{'':<26} guarantees: {checks.line()}")
    if args.py_spy:
        print(f"py-spy, our server's own time by frame ({args.py_spy}):")
        for share, frame in top_frames(args.py_spy):
            print(f"  {share:5.1f} %  {frame}")
    return rate


if __name__ == "__main__":
    main()
