"""Benchmark: the cadre queue page and the item page with 100,000 items in 50 villages.

Builds a database (SQLite in a temporary directory, then a fresh PostgreSQL schema) with
N items (default 100,000) spread over 50 villages in 5 townships, each application with
its household, assessment and three audit events, through the real migrations. Then it
asks the real app (FastAPI over httpx's ASGI transport, in process: server time, no
network) for filtered queue pages as a village cadre, a township team and the county
office, and for item pages, R times each (default 200), and prints p50 / p95 / max in
milliseconds. Target: p95 under 100 ms.

    .venv/bin/python bench/queue_page.py --items 100000 --requests 200
    .venv/bin/python bench/queue_page.py --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app
from bot.config import Settings
from bot.services import Services, build_services
from intake.answers import parse_answers
from intake.applications import Application
from intake.assessment import assess
from intake.audit import AuditEvent
from intake.households import Household
from intake.identity import id_check_digit
from intake.policy import default_policy_path
from intake.queue import QueueItem
from intake.users import Role, create_user

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 123"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
STATUSES = [
    ("submitted", 20),
    ("village_review", 15),
    ("township_review", 15),
    ("public_notice", 10),
    ("county_confirm", 5),
    ("enrolled", 20),
    ("not_enrolled", 10),
    ("withdrawn", 5),
]
TOWNSHIPS, VILLAGES_PER = 5, 10


def bench_policy(directory: Path) -> None:
    """The 港口乡 policy with 5 townships × 10 villages, as region ``bench``."""
    data = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    data["region"]["code"] = "bench"
    data["townships"] = [
        {
            "code": f"t{t}",
            "name": f"乡{t}",
            "villages": [{"code": f"t{t}-v{v}", "name": f"村{t}-{v}"} for v in range(VILLAGES_PER)],
        }
        for t in range(TOWNSHIPS)
    ]
    (directory / "bench.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )


def _id(n: int) -> str:
    first17 = f"421223{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def _status(rng: random.Random) -> str:
    return rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]


@dataclass(frozen=True)
class Shared:
    """Values every generated application shares (encryption is not what is measured)."""

    answers: dict[str, Any]
    assessment: dict[str, Any]
    id_cipher: str
    phone_cipher: str
    policy_version: str


def _rows(n: int, rng: random.Random, shared: Shared) -> dict[str, list[dict[str, Any]]]:
    """The queue item, household, application and audit events of application ``n``."""
    t, v = n % TOWNSHIPS, (n // TOWNSHIPS) % VILLAGES_PER
    village = f"t{t}-v{v}"
    created = NOW - timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 1440))
    due = created + timedelta(days=rng.randint(1, 30)) if rng.random() < 0.7 else None
    risk = rng.choice([",01,", ",01,10,", ",02,08,", ",05,", ",99,"])
    item = dict(id=n + 1, kind="application", status=_status(rng), tracking_code=f"B{n:08d}",
                region_code="bench", township_code=f"t{t}", village_code=village,
                fast_track=rng.random() < 0.05, due_at=due, contact_id=None, created_at=created,
                updated_at=created, risk_codes=risk, merged_into_id=None)  # fmt: skip
    household = dict(id=n + 1, id_hash=f"{n:064d}", id_cipher=shared.id_cipher,
                     head_name=f"户主{n}", village_code=village, size=3,
                     phone_cipher=shared.phone_cipher, category="general", poverty_exit_year=None,
                     created_at=created, updated_at=created)  # fmt: skip
    application = dict(id=n + 1, status="submitted", contact_id=None, queue_item_id=n + 1,
                       household_id=n + 1, village_code=village, head_name=f"户主{n}",
                       answers=shared.answers, assessment=shared.assessment, proxy=None,
                       draft_cipher=None, consent_at=created, policy_version=shared.policy_version,
                       language="zh_CN", created_at=created, submitted_at=created)  # fmt: skip
    actions = ("application.submitted", "procedure.start_village_review", "item.id_revealed")
    events = [
        dict(at=created + timedelta(hours=k), actor="user:1", action=action,
             subject_kind="queue_item", subject_id=n + 1, reason="理由" if k else None,
             data={"from": "submitted"})
        for k, action in enumerate(actions)
    ]  # fmt: skip
    return {"item": [item], "household": [household], "application": [application], "event": events}


TABLES = {
    "item": QueueItem,
    "household": Household,
    "application": Application,
    "event": AuditEvent,
}


def populate(services: Services, count: int, rng: random.Random) -> None:
    """Insert ``count`` applications with households and audit events, in batches."""
    policy = services.default_policy
    raw = {"household_size": 3, "medical_out_of_pocket_yuan": 35000, "annual_income_yuan": 24000}
    answers = parse_answers(raw)
    shared = Shared(
        answers=answers.to_json(),
        assessment=assess(answers, policy, year=2026).to_json(),
        id_cipher=services.cipher.encrypt(_id(1)),
        phone_cipher=services.cipher.encrypt("13812345678"),
        policy_version=policy.version,
    )
    for start in range(0, count, 5000):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for n in range(start, min(count, start + 5000)):
            for name, rows in _rows(n, rng, shared).items():
                batch[name].extend(rows)
        with services.db.engine.begin() as conn:
            for name, model in TABLES.items():
                conn.execute(insert(model.__table__), batch[name])  # type: ignore[attr-defined]
    with services.db.engine.begin() as conn:
        if services.db.is_sqlite:
            conn.execute(text("ANALYZE"))
            return
        conn.execute(text("SELECT setval('queue_item_id_seq', (SELECT max(id) FROM queue_item))"))
        for table in ("queue_item", "application", "household", "audit_event"):
            conn.execute(text(f"ANALYZE {table}"))


def users(services: Services) -> None:
    """A village cadre, a township team and the county office."""
    with services.db.write() as db:
        for name, role, place in (
            ("cun", Role.VILLAGE, "t2-v7"),
            ("xiang", Role.TOWNSHIP, "t2"),
            ("xian", Role.COUNTY, "bench"),
        ):
            create_user(
                db,
                username=name,
                password=PASSWORD,
                role=role,
                place=place,
                policies=services.policies,
                now=NOW,
            )


async def _login(client: httpx.AsyncClient, name: str) -> None:
    import re

    form = await client.get("/cadre/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = await client.post(
        "/cadre/login", data={"username": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 303, response.text


CASES: list[tuple[str, str, dict[str, str]]] = [
    ("village cadre: open items", "cun", {}),
    (
        "village cadre: township_review + overdue",
        "cun",
        {"status": "township_review", "overdue": "1"},
    ),
    ("township team: risk 01, open", "xiang", {"risk": "01"}),
    (
        "township team: one village, public notice",
        "xiang",
        {"village": "t2-v3", "status": "public_notice"},
    ),
    ("county office: fast track, open", "xian", {"fast": "1"}),
    ("county office: all statuses, page 3", "xian", {"status": "all", "page": "3"}),
]


def _summary(label: str, times: list[float]) -> str:
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    p50, worst = statistics.median(times), times[-1]
    return f"  {label:<46} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {worst:6.1f} ms"


async def measure(services: Services, requests: int, rng: random.Random, items: int) -> list[str]:
    """Time every case ``requests`` times; returns printable lines."""
    app = create_app(services.settings, services)
    lines = []
    for user in ("cun", "xiang", "xian"):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _login(client, user)
            for label, who, params in CASES:
                if who != user:
                    continue
                lines.append(_summary(label, await _time(client, "/cadre/", params, requests)))
            village = {"cun": "t2-v7", "xiang": "t2-v", "xian": "t"}[user]
            ids = [
                n + 1
                for n in rng.sample(range(items), min(items, 5000))
                if _village_of(n).startswith(village)
            ]
            lines.append(
                _summary(f"{user}: item page", await _time_items(client, ids[:requests] or [1]))
            )
    return lines


def _village_of(n: int) -> str:
    return f"t{n % TOWNSHIPS}-v{(n // TOWNSHIPS) % VILLAGES_PER}"


async def _time(
    client: httpx.AsyncClient, url: str, params: dict[str, str], count: int
) -> list[float]:
    await client.get(url, params=params)  # warm
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(url, params=params)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times


async def _time_items(client: httpx.AsyncClient, ids: list[int]) -> list[float]:
    times = []
    for item_id in ids:
        start = time.perf_counter()
        response = await client.get(f"/cadre/items/{item_id}")
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (item_id, response.status_code)
    return times


def run(backend: str, items: int, requests: int) -> None:
    """Build one backend's database, fill it, measure it."""
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    bench_policy(work)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT") if backend == "postgresql" else None
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = (
        f"sqlite:///{work / 'bench.db'}"
        if admin is None
        else f"{PG}?options=-csearch_path%3D{schema}"
    )
    settings = Settings(
        data_dir=work,
        database_url=url,
        secret_key="bench-secret-0123456789abcdef",  # noqa: S106 - a throwaway database
        policy_dir=work,
        regions="bench",
        _env_file=None,
    )  # type: ignore[call-arg]
    services = build_services(settings, clock=lambda: NOW)
    rng = random.Random(2026)
    try:
        start = time.perf_counter()
        populate(services, items, rng)
        users(services)
        print(
            f"{backend}: {items:,} items in 50 villages, "
            f"loaded in {time.perf_counter() - start:.0f} s"
        )
        for line in asyncio.run(measure(services, requests, rng, items)):
            print(line)
    finally:
        services.db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        shutil.rmtree(work, ignore_errors=True)  # the SQLite file alone is ~350 MB


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the chosen backends."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        run(backend, args.items, args.requests)


if __name__ == "__main__":
    main()
