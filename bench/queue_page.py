"""Benchmark: the cadre queue page, the item page and the search box with 100,000 items
in 50 villages, 30,000 of them reports from the public.

Builds a database (SQLite in a temporary directory, then a fresh PostgreSQL schema) with
N items (default 100,000) spread over 50 villages in 5 townships: 70 % applications, each
with its household, assessment and three audit events, and 30 % reports (tips, reports,
complaints, questions, suggestions; a third of them named, with a phone and ID number),
through the real migrations. Then it asks the real app (FastAPI over httpx's ASGI
transport, in process: server time, no network) for filtered queue pages as a village
cadre, a township team and the county office, for item pages, for the reports queue, and
for the search box by tracking code (an application's and a report's), by name and by ID
number (a household's and a reporter's), R times each (default 200), and prints p50 / p95
/ max in milliseconds. Target: p95 under 100 ms.

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
from datetime import UTC, date, datetime, timedelta
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
from intake.reports.filing import deadlines
from intake.reports.kinds import report_rules
from intake.reports.models import Report
from intake.reports.routing import route
from intake.tracking import new_tracking_code
from intake.users import Role, create_user
from intake.workdays import WorkdayCalendar

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
#: The share of items that are reports from the public (30,000 of 100,000).
REPORT_SHARE = 0.3
REPORT_KINDS = [
    ("tip", "household", 30),
    ("report", "household", 20),
    ("complaint", "cadre", 15),
    ("complaint", "committee", 10),
    ("complaint", "township", 5),
    ("inquiry", "general", 15),
    ("suggestion", "general", 5),
]
REPORT_STATES = ["received", "accepted", "investigating", "answered", "closed", "unfounded"]


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
    """A valid ID number, a different one for every ``n`` below a million."""
    region = 421000 + (n // 1000) % 1000
    first17 = f"{region}{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
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


def _rows(
    n: int, rng: random.Random, shared: Shared, code: str, id_hash: str
) -> dict[str, list[dict[str, Any]]]:
    """The queue item, household, application and audit events of application ``n``."""
    t, v = n % TOWNSHIPS, (n // TOWNSHIPS) % VILLAGES_PER
    village = f"t{t}-v{v}"
    created = NOW - timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 1440))
    due = created + timedelta(days=rng.randint(1, 30)) if rng.random() < 0.7 else None
    risk = rng.choice([",01,", ",01,10,", ",02,08,", ",05,", ",99,"])
    item = dict(id=n + 1, kind="application", status=_status(rng), tracking_code=code,
                region_code="bench", township_code=f"t{t}", village_code=village,
                fast_track=rng.random() < 0.05, due_at=due, contact_id=None, created_at=created,
                updated_at=created, risk_codes=risk, merged_into_id=None)  # fmt: skip
    household = dict(id=n + 1, id_hash=id_hash, id_cipher=shared.id_cipher,
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


@dataclass
class Codes:
    """Tracking codes handed out so far (applications and reports share one space)."""

    rng: random.Random
    taken: set[str]

    def __call__(self) -> str:
        while True:
            code = new_tracking_code(self.rng)
            if code not in self.taken:
                self.taken.add(code)
                return code


@dataclass(frozen=True)
class Sample:
    """What the search cases look for: codes, names and ID numbers known to exist."""

    item_codes: list[str]
    report_codes: list[str]
    names: list[str]
    ids: list[str]
    reporter_ids: list[str]


def populate(services: Services, count: int, rng: random.Random) -> Sample:
    """Insert ``count`` items: applications with households and audit events, and reports
    (:data:`REPORT_SHARE` of them), in batches; returns what the search cases look for."""
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
    codes = Codes(rng, set())
    applications = count - int(count * REPORT_SHARE)
    cipher = services.cipher
    sample = Sample([], [], [], [], [])
    for start in range(0, applications, 5000):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for n in range(start, min(applications, start + 5000)):
            code = codes()
            for name, rows in _rows(n, rng, shared, code, cipher.lookup_hash(_id(n))).items():
                batch[name].extend(rows)
            if n % 97 == 0:
                sample.item_codes.append(code)
                sample.names.append(f"户主{n}")
                sample.ids.append(_id(n))
        with services.db.engine.begin() as conn:
            for name, model in TABLES.items():
                conn.execute(insert(model.__table__), batch[name])  # type: ignore[attr-defined]
    _reports(services, count - applications, rng, codes, sample)
    with services.db.engine.begin() as conn:
        if services.db.is_sqlite:
            conn.execute(text("ANALYZE"))
            return sample
        conn.execute(text("SELECT setval('queue_item_id_seq', (SELECT max(id) FROM queue_item))"))
        conn.execute(text("SELECT setval('report_id_seq', (SELECT max(id) FROM report))"))
        for table in ("queue_item", "application", "household", "audit_event", "report"):
            conn.execute(text(f"ANALYZE {table}"))
    return sample


def _reports(
    services: Services, count: int, rng: random.Random, codes: Codes, sample: Sample
) -> None:
    """Insert ``count`` reports over the villages, a third named (phone, ID number)."""
    cipher = services.cipher
    rules = report_rules(services.default_policy)
    calendar = WorkdayCalendar()
    text_cipher = cipher.encrypt("他家老人大病住院，欠了很多债。")
    name_cipher, phone_cipher = cipher.encrypt("户主"), cipher.encrypt("13812345678")
    id_cipher = cipher.encrypt(_id(999_999))
    phone_hash = cipher.lookup_hash("13812345678")
    kinds = [(k, s) for k, s, _ in REPORT_KINDS]
    weights = [w for _, _, w in REPORT_KINDS]
    for start in range(0, count, 5000):
        rows = []
        for n in range(start, min(count, start + 5000)):
            kind, subject = rng.choices(kinds, weights)[0]
            rule = rules.kind(kind)
            where = route(rule, _subject(subject))
            t, v = n % TOWNSHIPS, (n // TOWNSHIPS) % VILLAGES_PER
            received = NOW.date() - timedelta(days=rng.randint(0, 300))
            first, answer, estimated = deadlines(
                received, rule.first_response_working_days, rule.answer_working_days, calendar
            )
            named = n % 3 == 0
            reporter_id = _id(500_000 + n)
            state = rng.choice(REPORT_STATES)
            code = codes()
            subject_name = f"户主{n * 7 % 70_000}" if subject == "household" else None
            rows.append(dict(
                tracking_code=code, kind=kind, source="chat", state=state, region_code="bench",
                township_code=f"t{t}", village_code=None if subject == "township" else f"t{t}-v{v}",
                subject_kind=subject, subject_name_cipher=text_cipher if subject_name else None,
                subject_name_hash=cipher.lookup_hash(subject_name) if subject_name else None,
                text_cipher=text_cipher, anonymous=not named, contact_id=None,
                reporter_name_cipher=name_cipher if named else None,
                phone_cipher=phone_cipher if named else None,
                phone_hash=phone_hash if named else None,
                reporter_id_cipher=id_cipher if named else None,
                reporter_id_hash=cipher.lookup_hash(reporter_id) if named else None,
                callback_consent=named, routed_level=where.level.value, route_reason=where.reason,
                village_told=True, assignee_id=None, answer_cipher=None, referred_to=None,
                merged_into_id=None, objected=False, received_on=received, clock_from=received,
                first_response_due=first, answer_due=answer, due_estimated=estimated,
                first_response_on=None if state == "received" else received,
                answered_on=_answered(received, state),
                closed_on=None,
            ))  # fmt: skip
            if n % 97 == 0:
                sample.report_codes.append(code)
                if named:
                    sample.reporter_ids.append(reporter_id)
        with services.db.engine.begin() as conn:
            conn.execute(insert(Report.__table__), rows)  # type: ignore[attr-defined]


def _answered(received: date, state: str) -> date | None:
    return received + timedelta(days=5) if state in ("answered", "closed") else None


def _subject(value: str) -> Any:
    from intake.reports.kinds import SubjectKind

    return SubjectKind(value)


def users(services: Services) -> None:
    """A village cadre, a township team and the county office."""
    with services.db.write() as db:
        for name, role, place in (
            ("cun", Role.VILLAGE, "t2-v7"),
            ("xiang", Role.TOWNSHIP, "t2"),
            ("xian", Role.COUNTY, "bench"),
            ("op", Role.OPERATOR, "bench"),
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


async def measure(
    services: Services, requests: int, rng: random.Random, sample: Sample, applications: int
) -> list[str]:
    """Time every case ``requests`` times; returns printable lines."""
    app = create_app(services.settings, services)
    lines = []
    for user in ("cun", "xiang", "xian", "op"):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _login(client, user)
            for label, who, params in CASES:
                if who != user:
                    continue
                lines.append(_summary(label, await _time(client, "/cadre/", params, requests)))
            if user in ("xiang", "xian"):
                for label, params in REPORT_CASES:
                    timed = await _time(client, "/cadre/reports", params, requests)
                    lines.append(_summary(f"{user}: {label}", timed))
            if user != "op":
                village = {"cun": "t2-v7", "xiang": "t2-v", "xian": "t"}[user]
                ids = [
                    n + 1
                    for n in rng.sample(range(applications), min(applications, 5000))
                    if _village_of(n).startswith(village)
                ]
                timed = await _time_items(client, ids[:requests] or [1])
                lines.append(_summary(f"{user}: item page", timed))
            if user in ("xiang", "xian", "op"):
                for label, queries in _searches(sample):
                    timed = await _time_search(client, queries, requests)
                    lines.append(_summary(f"{user}: search by {label}", timed))
    return lines


REPORT_CASES: list[tuple[str, dict[str, str]]] = [
    ("reports queue, open", {}),
    ("reports queue, all, page 3", {"state": "all", "page": "3"}),
]


def _searches(sample: Sample) -> list[tuple[str, list[str]]]:
    return [
        ("application code", sample.item_codes),
        ("report code", sample.report_codes),
        ("name", sample.names),
        ("household ID", sample.ids),
        ("reporter ID", sample.reporter_ids),
    ]


async def _time_search(client: httpx.AsyncClient, queries: list[str], count: int) -> list[float]:
    await client.get("/cadre/search", params={"q": queries[0]})  # warm
    times = []
    for n in range(count):
        start = time.perf_counter()
        response = await client.get("/cadre/search", params={"q": queries[n % len(queries)]})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times


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
        sample = populate(services, items, rng)
        users(services)
        print(
            f"{backend}: {items:,} items ({int(items * REPORT_SHARE):,} reports) in 50 villages, "
            f"loaded in {time.perf_counter() - start:.0f} s"
        )
        applications = items - int(items * REPORT_SHARE)
        for line in asyncio.run(measure(services, requests, rng, sample, applications)):
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
