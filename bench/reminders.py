"""Benchmark: one month's visit reminders for 100,000 households, and a 50,000-row roster.

Builds a database (a fresh PostgreSQL schema by default, or SQLite) through the real
migrations with H households (default 100,000) and P helpers (default 20,000, all linked
on Telegram), five households each. Then, each phase in a fresh process so its peak
memory (max RSS, the interpreter and libraries included) is its own:

1. **one process** plans and fires the month's timers at 1 Dec 09:00 until nothing is
   due: time, peak memory, reminders queued;
2. the timers and outbox are emptied and **two processes** do the same at once: every
   helper must get exactly one reminder (duplicates and missed must both be 0);
3. the month's reminders **drain to a fake Telegram** (real HTTP, 30 messages/s enforced)
   for D seconds (default 60) while villagers' replies arrive at 2/s: the replies' p95
   from queued to received (target under 1.5 s), the send rate, 429s and duplicates;
4. a roster of R rows (default 50,000) is imported into an empty database: rows per
   second and peak memory (target under 200 MB).

    .venv/bin/python bench/reminders.py
    .venv/bin/python bench/reminders.py --backend sqlite --households 20000 --helpers 4000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from helpers_support import GANGKOU, HELPER_MODELS, cipher, policies, row, write_xlsx

from bot.services import upgrade
from intake.db import Database, import_models
from intake.helpers.models import Helper, HelperAssignment
from intake.helpers.roster import import_roster
from intake.households import Household
from intake.workdays import SHANGHAI, WorkdayCalendar
from notifications.jobs import JobContext, fire_timers, plan_timers
from notifications.outbox import OutboxMessage
from notifications.timers import Timer

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MONTH_START = datetime(2026, 12, 1, 9, 0, 30, tzinfo=SHANGHAI)


def _peak_mb() -> float:
    """This process's own peak RSS. Linux carries ``ru_maxrss`` across fork and exec, so a
    spawned child would report the parent's size if larger (it did: every phase showed
    the parent's 480 MB); ``VmHWM`` belongs to the process's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def populate(url: str, households: int, helpers: int) -> None:
    """Helpers and households by bulk insert (the bench measures reminders, not setup)."""
    import_models(HELPER_MODELS)
    upgrade(url)
    engine = create_engine(url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    per = households // helpers
    with engine.begin() as conn:
        conn.execute(insert(Helper), [
            {"id": h + 1, "name": f"帮扶{h}", "region_code": "gangkou", "township_code": "gangkou",
             "state": "active", "chat_channel": "telegram", "chat_external_id": str(10_000 + h),
             "created_at": now, "updated_at": now}
            for h in range(helpers)
        ])  # fmt: skip
        conn.execute(insert(Household), [
            {"id": n + 1, "id_hash": f"bench-{n}", "id_cipher": "x", "head_name": f"户主{n}",
             "village_code": "gangkou-bailing", "category": "monitored",
             "created_at": now, "updated_at": now}
            for n in range(households)
        ])  # fmt: skip
        conn.execute(insert(HelperAssignment), [
            {"household_id": n + 1, "helper_id": n // per + 1, "started_at": now, "actor": "bench"}
            for n in range(households)
        ])  # fmt: skip
    engine.dispose()


def _month(url: str, worker: str, results: Any) -> None:
    """One worker's month start: plan and fire until nothing is due."""
    import_models(HELPER_MODELS)
    db = Database(url)
    ctx = JobContext(db=db, policies=policies(), calendar=WorkdayCalendar(),
                     clock=lambda: MONTH_START, worker=worker, cipher=cipher())  # fmt: skip
    started = time.perf_counter()
    fired = 0
    for _ in range(10_000):
        plan_timers(ctx)
        report = fire_timers(ctx, max_batches=None)
        fired += report.fired
        if report.total == 0:
            break
    results.put((worker, time.perf_counter() - started, fired, _peak_mb()))
    db.dispose()


#: A spawned process starts clean: a forked one would count the parent's pages (the
#: bulk-insert lists of populate) in its peak memory.
SPAWN = multiprocessing.get_context("spawn")


def run_month(url: str, workers: list[str]) -> list[tuple[str, float, int, float]]:
    results: Any = SPAWN.Queue()
    procs = [SPAWN.Process(target=_month, args=(url, w, results)) for w in workers]
    for proc in procs:
        proc.start()
    found = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    return found


def count_reminders(url: str, helpers: int) -> tuple[int, int, int]:
    """(reminders queued, duplicates, helpers missed)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        recipients = Counter(r for (r,) in conn.execute(select(OutboxMessage.recipient)))
    engine.dispose()
    # Helpers' chats are 10000 onwards (see populate); anything else is a cadre's.
    reminders = {k: v for k, v in recipients.items() if k.isdigit() and int(k) >= 10_000}
    duplicates = sum(v - 1 for v in reminders.values())
    return sum(reminders.values()), duplicates, helpers - len(reminders)


def reset(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(OutboxMessage))
        conn.execute(delete(Timer))
    engine.dispose()


def _roster(url: str, path: str, results: Any) -> None:
    import_models(HELPER_MODELS)
    upgrade(url)
    db = Database(url)
    started = time.perf_counter()
    report = import_roster(
        db, cipher(), Path(path), scope=GANGKOU, policies=policies(), actor="bench",
        now=datetime.now(UTC), today=date(2026, 12, 1),
    )  # fmt: skip
    results.put((time.perf_counter() - started, report.created, len(report.problems), _peak_mb()))
    db.dispose()


def run_roster(url: str, rows: int, folder: Path) -> tuple[float, int, int, float]:
    path = write_xlsx(folder / "roster.xlsx", (
        row(n, phone=f"139{n // 5:08d}", helper=f"帮扶{n // 5}") for n in range(rows)))  # fmt: skip
    results: Any = SPAWN.Queue()
    proc = SPAWN.Process(target=_roster, args=(url, str(path), results))
    proc.start()
    found = results.get()
    proc.join()
    return found  # type: ignore[no-any-return]


async def _drain(url: str, seconds: float, rate: float) -> None:
    """Phase 3: the dispatcher sends the queued month to the fake Bot API for ``seconds``
    while interactive replies arrive; the report is ``bench/telegram_dispatch.py``'s."""
    import asyncio

    from telegram import Bot
    from telegram.request import HTTPXRequest
    from telegram_dispatch import FakeServerProcess, interactive_stream, report

    from bot.channels.telegram_sender import TelegramSender
    from notifications.dispatcher import Dispatcher
    from notifications.ratelimit import Limits

    import_models()
    db = Database(url)
    with FakeServerProcess() as tg:
        request = HTTPXRequest(connection_pool_size=64, read_timeout=10, connect_timeout=5)
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request)
        async with bot:
            dispatcher = Dispatcher(db, {"telegram": TelegramSender(bot)}, limits=Limits())
            stop, queued = asyncio.Event(), {}  # type: ignore[var-annotated]
            started = time.monotonic()
            loop = asyncio.create_task(dispatcher.run_forever(stop))
            stream = asyncio.create_task(interactive_stream(db, dispatcher, rate, stop, queued))
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(loop, stream)
        report(tg.calls(), db, queued, started)
    db.dispose()


class Backend:
    """A fresh database per use: a PostgreSQL schema, or a SQLite file."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder, self.schemas = kind, folder, []  # type: list[str]

    def fresh(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        self.schemas.append(schema)
        return f"{PG}?options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for schema in self.schemas:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--helpers", type=int, default=20_000)
    parser.add_argument("--roster-rows", type=int, default=50_000)
    parser.add_argument("--drain-seconds", type=float, default=60.0)
    parser.add_argument("--interactive-rate", type=float, default=2.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    backend = Backend(args.backend, folder)
    try:
        url = backend.fresh("month")
        populate(url, args.households, args.helpers)
        print(f"{args.backend}: {args.households} households, {args.helpers} helpers")
        ((_, seconds, _, peak),) = run_month(url, ["one"])
        queued, dups, missed = count_reminders(url, args.helpers)
        print(f"one process : {seconds:6.1f} s, peak {peak:5.0f} MB, {queued} reminders queued "
              f"({queued / seconds:.0f}/s), duplicates {dups}, missed {missed}")  # fmt: skip
        reset(url)
        both = run_month(url, ["a", "b"])
        queued, dups, missed = count_reminders(url, args.helpers)
        slowest = max(s for _, s, _, _ in both)
        print(f"two processes: {slowest:6.1f} s, peak {max(p for *_, p in both):5.0f} MB, "
              f"fired {'+'.join(str(f) for _, _, f, _ in both)}, duplicates {dups}, "
              f"missed {missed}")  # fmt: skip
        if args.drain_seconds > 0:
            import asyncio

            print(f"draining the month to a fake Telegram for {args.drain_seconds:.0f} s:")
            asyncio.run(_drain(url, args.drain_seconds, args.interactive_rate))
        seconds, created, problems, peak = run_roster(
            backend.fresh("roster"), args.roster_rows, folder
        )
        print(f"roster import: {created} rows in {seconds:.1f} s = {created / seconds:.0f} rows/s, "
              f"peak {peak:.0f} MB, problems {problems}")  # fmt: skip
    finally:
        if args.backend == "postgresql":
            backend.drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
