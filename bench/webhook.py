"""Benchmark: villagers completing the self-application through the webhook channel.

Starts the real service (``hotline serve``, SQLite in a temporary directory) and, for a
floor, a bare FastAPI endpoint that only inserts the raw message into SQLite. N simulated
villagers (default 2,000) each send the whole application, in order, while at most C
requests (default 32) are in flight. Prints messages per second, p50/p99 latency and the
server's peak RSS for both, and the service's share of the floor's throughput.

    .venv/bin/python bench/webhook.py --villagers 2000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processes import free_port, peak_rss_mb, wait_ready

from bot.channels.webhook import sign
from intake.identity import id_check_digit

SECRET = "bench-webhook-secret"
FLOOR_APP = """
import os, sqlite3, threading
from fastapi import FastAPI, Request
db = sqlite3.connect(os.environ["FLOOR_DB"], check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS inbound (id INTEGER PRIMARY KEY, body BLOB)")
lock = threading.Lock()
app = FastAPI()
@app.post("/in")
async def inbound(request: Request) -> dict:
    body = await request.body()
    with lock:
        db.execute("INSERT INTO inbound (body) VALUES (?)", (body,))
    return {"ok": True}
"""


def id_number(n: int) -> str:
    first17 = f"421223{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def script(user: str, n: int) -> list[dict[str, Any]]:
    """The whole self-application of one villager, as webhook messages."""
    pressed = ["choose:apply", "for_whom:self", "village:gangkou-bailing", "illness:yes"]
    steps: list[dict[str, Any]] = [{"type": "start"}]
    steps += [{"type": "button", "data": d} for d in pressed]
    steps += [{"type": "text", "text": "35000"}]
    steps += [
        {"type": "button", "data": f"{s}:no"}
        for s in ("disaster", "accident", "house", "school", "job", "business")
    ]
    steps += [{"type": "button", "data": "size:3"}]
    steps += [{"type": "text", "text": t} for t in ("24000", "30000", "0")]
    steps += [
        {"type": "button", "data": f"{s}:no"}
        for s in ("neg_house", "neg_car", "neg_job", "neg_business", "neg_pension", "neg_conduct")
    ]
    steps += [{"type": "text", "text": t} for t in ("王大山", id_number(n), "13812345678")]
    steps += [
        {"type": "button", "data": "consent:agree"},
        {"type": "button", "data": "summary:confirm"},
    ]
    return [{"id": f"{user}-{i}", "from": user, **s} for i, s in enumerate(steps)]


async def drive(
    url: str,
    villagers: int,
    concurrency: int,
    signed: bool,
    rate: float | None = None,
    prefix: str = "b",
) -> tuple[list[float], float, bool]:
    """Every villager sends their messages in order, at most ``concurrency`` in flight.

    Without ``rate`` the load is closed: a new request starts as soon as one ends, so the
    server is saturated and latency is simply ``concurrency / throughput`` (Little's law).
    With ``rate`` villagers arrive one after another and requests start at most ``rate`` per
    second (an open load, every step of the dialog in the mix at once, as in real traffic):
    the latency a villager sees while the service is busy but keeping up.
    """
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    completed = True
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    next_start = time.perf_counter()

    async def paced() -> None:
        nonlocal next_start
        if rate is None:
            return
        slot = max(next_start, time.perf_counter())
        next_start = slot + 1 / rate
        await asyncio.sleep(slot - time.perf_counter())

    async def post(
        client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        # A kept-alive connection the server closed as we reused it: send again (the
        # webhook is idempotent by message id, so a resend changes nothing).
        for attempt in range(3):
            try:
                return await client.post(url, content=body, headers=headers)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def villager(client: httpx.AsyncClient, n: int) -> None:
        nonlocal completed
        last: dict[str, Any] = {}
        messages = script(f"{prefix}{n}", n)
        if rate is not None:  # villagers arrive one after another, not all at the first step
            await asyncio.sleep(n * len(messages) / rate)
        for message in messages:
            body = json.dumps(message, ensure_ascii=False).encode()
            headers = {"content-type": "application/json"}
            if signed:
                stamp = str(int(time.time()))
                headers.update(
                    {"x-hotline-timestamp": stamp, "x-hotline-signature": sign(SECRET, stamp, body)}
                )
            await paced()
            async with gate:
                started = time.perf_counter()
                response = await post(client, url, body, headers)
                latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            last = response.json()
        if signed and not str(last.get("replies", [{}])[0].get("text", "")).startswith(
            "申请已提交"
        ):
            completed = False

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(villager(client, n) for n in range(villagers)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, completed


def report(name: str, latencies: list[float], elapsed: float, rss: float) -> float:
    rate = len(latencies) / elapsed
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{name:<22} {len(latencies):>8} msgs {elapsed:>8.1f} s {rate:>9.1f} msg/s "
        f"p50 {p50:>7.1f} ms  p99 {p99:>7.1f} ms  peak RSS {rss:>6.1f} MB"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villagers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--open-rate", type=float, default=100.0, help="messages/s of the open-load latency run"
    )
    parser.add_argument("--open-villagers", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(work / "var"),
        "HOTLINE_WEBHOOK_SECRET": SECRET,
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    env.pop("HOTLINE_DATABASE_URL", None)
    print(
        f"{args.villagers} villagers x {len(script('x', 0))} messages, "
        f"{args.concurrency} in flight, SQLite, {os.cpu_count()} cores"
    )

    port = free_port()
    service = subprocess.Popen(
        [str(ROOT / ".venv/bin/hotline"), "serve", "--port", str(port)], env=env, cwd=work
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        latencies, elapsed, ok = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}/channels/webhook", args.villagers, args.concurrency, True
            )
        )
        service_rate = report("hotline webhook", latencies, elapsed, peak_rss_mb(service.pid))
        latencies, elapsed, _ = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}/channels/webhook",
                args.open_villagers,
                args.concurrency,
                True,
                rate=args.open_rate,
                prefix="o",
            )
        )
        report(f"  open load {args.open_rate:.0f}/s", latencies, elapsed, peak_rss_mb(service.pid))
    finally:
        service.terminate()
        service.wait(timeout=30)

    (work / "floor.py").write_text(FLOOR_APP)
    port = free_port()
    floor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "floor:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--app-dir",
            str(work),
        ],
        cwd=work,
        env={**env, "FLOOR_DB": str(work / "floor.db")},
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/docs")
        latencies, elapsed, _ = asyncio.run(
            drive(f"http://127.0.0.1:{port}/in", args.villagers, args.concurrency, False)
        )
        floor_rate = report("floor (bare insert)", latencies, elapsed, peak_rss_mb(floor.pid))
    finally:
        floor.terminate()
        floor.wait(timeout=30)
    print(
        f"service throughput = {100 * service_rate / floor_rate:.0f}% of the floor; "
        f"every villager got a tracking code: {ok}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
