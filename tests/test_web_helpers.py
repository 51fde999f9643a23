"""The helpers pages over real HTTP, on SQLite and PostgreSQL: scoped like every page,
counts right, a link code made and shown once, a household's visits, the overdue list
with late measures, and the visit log spreadsheet in the ledger's column order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from cadre_support import (
    VILLAGE_A,
    VILLAGE_B,
    add_user,
    client_for,
    login,
    xlsx_rows,
)
from conftest import TEST_SECRET
from fastapi import FastAPI
from helpers_support import id_number
from sqlmodel import select

from bot.app import cadre_deps
from bot.config import Settings
from bot.services import Services
from intake.attachments import Attachment, AttachmentKind
from intake.audit import AuditEvent
from intake.exports import MEASURES_COLUMNS
from intake.helpers.assignments import assign_helper, create_helper
from intake.helpers.links import LinkOutcome, check_link_code
from intake.helpers.models import Helper, NotVisitedReason, Visit, VisitAttachment, VisitMode
from intake.helpers.visit_log import VISIT_LOG_COLUMNS
from intake.helpers.visits import record_visit
from intake.households import Household
from intake.users import Role
from intake.web import cadre_router

BOLUO_VILLAGE = "boluo-sample-yicun"
SINCE = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)  # six full months before November


@dataclass
class World:
    h1: int  # 李帮扶, village A, linked: households a1, a2 (village A) and b1 (village B)
    h2: int  # 乡里人, township-wide: household a3
    h3: int  # 博罗人, another township: household far
    a1: int
    a2: int
    a3: int
    b1: int
    far: int


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Two regions, so there is another township to try."""
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=TEST_SECRET,
        webhook_secret="webhook-test-secret",
        regions="gangkou,boluo",
        _env_file=None,
    )


def _world(services: Services) -> World:
    key, now = services.cipher, services.clock()
    with services.db.write() as db:

        def helper(name: str, township: str, village: str | None, phone: str) -> int:
            region = "boluo" if township.startswith("boluo") else township
            made = create_helper(db, key, name=name, phone=phone, region_code=region,
                                 township_code=township, village_code=village,
                                 work_unit="驻村工作队", actor="test", now=now)  # fmt: skip
            return int(made.id or 0)

        def household(n: int, village: str, name: str, helper_id: int) -> int:
            row = Household(
                id_hash=key.lookup_hash(id_number(n)),
                id_cipher=key.encrypt(id_number(n)),
                head_name=name,
                village_code=village,
                size=3,
                category="monitored",
            )
            db.add(row)
            db.flush()
            assign_helper(db, key, household_id=int(row.id or 0), helper_id=helper_id,
                          actor="test", reason="test", now=SINCE)  # fmt: skip
            return int(row.id or 0)

        h1 = helper("李帮扶", "gangkou", VILLAGE_A, "13800000001")
        h2 = helper("乡里人", "gangkou", None, "13800000002")
        h3 = helper("博罗人", "boluo-sample", BOLUO_VILLAGE, "13800000003")
        linked = db.get(Helper, h1)
        assert linked is not None
        linked.chat_channel, linked.chat_external_id, linked.linked_at = "telegram", "77", now
        world = World(
            h1,
            h2,
            h3,
            household(1, VILLAGE_A, "王大山", h1),
            household(2, VILLAGE_A, "张小河", h1),
            household(3, VILLAGE_A, "刘三", h2),
            household(4, VILLAGE_B, "陈四", h1),
            household(5, BOLUO_VILLAGE, "黄五", h3),
        )

        def visit(household_id: int, helper_id: int, day: date, mode: VisitMode,
                  **more: object) -> None:  # fmt: skip
            record_visit(db, key, household_id=household_id, helper_id=helper_id,
                         period=f"{day:%Y-%m}", visited_on=day, mode=mode, actor="helper",
                         now=now, **more)  # type: ignore[arg-type]  # fmt: skip

        visit(
            world.a1,
            h1,
            date(2026, 11, 3),
            VisitMode.IN_PERSON,
            income={"wages": 1800, "transfers": 300},
            checks={"food": True, "water": False},
            problems="饮水管道冻裂",
            measures=[
                {"measure": "饮水工程", "progress": "施工中", "deadline": "2026-11-01"},
                {"measure": "公益岗位", "progress": "已完成", "deadline": "2026-10-01"},
            ],
        )
        visit(world.a1, h1, date(2026, 10, 9), VisitMode.PHONE, income={"about_the_same": True})
        visit(world.a1, h1, date(2026, 9, 9), VisitMode.NOT_VISITED,
              reason=NotVisitedReason.AWAY_FOR_WORK)  # fmt: skip
        visit(world.b1, h1, date(2026, 11, 5), VisitMode.PHONE)
        visit(world.a3, h2, date(2026, 10, 20), VisitMode.IN_PERSON)
        visit(world.far, h3, date(2026, 10, 20), VisitMode.IN_PERSON, problems="博罗的问题")
    return world


def _users(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "cunb", Role.VILLAGE, VILLAGE_B)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "boluo", Role.TOWNSHIP, "boluo-sample")
    add_user(services, "op", Role.OPERATOR, "gangkou")


def _row(html: str, helper_id: int) -> dict[str, str] | None:
    found = re.search(rf'<tr class="helper" data-helper="{helper_id}">(.*?)</tr>', html, re.S)
    if found is None:
        return None
    cells = dict(re.findall(r'<td class="([a-z-]+)">([^<]*)', found.group(1)))
    return {k: v.strip() for k, v in cells.items()}


async def test_helpers_page_counts_per_scope(services: Services) -> None:
    world = _world(services)
    _users(services)
    async with client_for(services) as client:
        await login(client, "xiang")
        page = (await client.get("/cadre/helpers")).text
        one = _row(page, world.h1)
        assert one == {"n-households": "3", "linked": "是", "n-done": "2", "n-due": "1",
                       "n-overdue": "2", "compliance": "11%"}  # fmt: skip
        assert "(2/18)" in page, "a1 in September (away, with a reason) and October"
        assert _row(page, world.h2) == {
            "n-households": "1",
            "linked": "否",
            "n-done": "0",
            "n-due": "1",
            "n-overdue": "0",
            "compliance": "17%",
        }
        assert _row(page, world.h3) is None and "博罗人" not in page
        village_b = (await client.get(f"/cadre/helpers?village={VILLAGE_B}")).text
        assert _row(village_b, world.h1) == {
            "n-households": "1",
            "linked": "是",
            "n-done": "1",
            "n-due": "0",
            "n-overdue": "1",
            "compliance": "0%",
        }
        assert (await client.get(f"/cadre/helpers?village={BOLUO_VILLAGE}")).status_code == 404
    async with client_for(services) as client:
        await login(client, "cun")
        page = (await client.get("/cadre/helpers")).text
        row = _row(page, world.h1)
        assert row is not None and row["n-households"] == "2" and row["n-done"] == "1"
        assert _row(page, world.h2) is not None, "the township's helper of a village household"
        assert "陈四" not in (await client.get(f"/cadre/helpers/{world.h1}")).text


@pytest.mark.parametrize(
    ("user", "helper", "helper_status", "household", "household_status"),
    [
        ("boluo", "h1", 404, "a1", 404),  # another township's cadre
        ("xiang", "h3", 404, "far", 404),
        ("xiang", "h1", 200, "b1", 200),
        ("cunb", "h2", 404, "a3", 404),  # a township helper with no household in village B
        ("cunb", "h1", 200, "a1", 404),  # holds b1 in village B; a1 is village A's
        ("cun", "h1", 200, "b1", 404),
        ("cun", "h2", 200, "a3", 200),
    ],
)
async def test_pages_outside_the_scope_are_404(
    services: Services, user: str, helper: str, helper_status: int, household: str,
    household_status: int,
) -> None:  # fmt: skip
    world = _world(services)
    _users(services)
    async with client_for(services) as client:
        await login(client, user)
        shown = await client.get(f"/cadre/helpers/{getattr(world, helper)}")
        assert shown.status_code == helper_status
        home = await client.get(f"/cadre/helpers/households/{getattr(world, household)}")
        assert home.status_code == household_status


async def test_a_link_code_is_shown_once_and_links_the_helper(services: Services) -> None:
    world = _world(services)
    _users(services)
    services.settings.telegram_bot_username = "fanpin_bot"
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        page = (await client.get(f"/cadre/helpers/{world.h2}")).text
        assert 'id="make-code"' in page and 'id="bare-code"' not in page
        made = await client.post(f"/cadre/helpers/{world.h2}/link-code", data={"csrf_token": csrf})
        assert made.status_code == 200
        code = re.search(r'id="bare-code">([A-Z0-9-]+)<', made.text)
        assert code is not None
        payload = "h_" + code.group(1).replace("-", "")
        assert f'href="https://t.me/fanpin_bot?start={payload}"' in made.text
        assert 'id="expires">2026-11-28 09:30<' in made.text, "valid 72 hours"
        assert code.group(1) not in (await client.get(f"/cadre/helpers/{world.h2}")).text
        forged = await client.post(f"/cadre/helpers/{world.h2}/link-code", data={})
        assert forged.status_code == 403
    with services.db.write() as db:
        outcome, helper = check_link_code(db, services.cipher, code.group(1), channel="telegram",
                                          external_id="55", now=services.clock())  # fmt: skip
        assert outcome is LinkOutcome.OK and helper is not None and helper.id == world.h2
        assert db.exec(select(AuditEvent).where(AuditEvent.action == "helper.link_created")).one()
    for user, status in (("cun", 403), ("boluo", 404)):
        async with client_for(services) as client:
            csrf = await login(client, user)
            if status == 403:
                assert 'id="make-code"' not in (await client.get(f"/cadre/helpers/{world.h1}")).text
            refused = await client.post(
                f"/cadre/helpers/{world.h1}/link-code", data={"csrf_token": csrf}
            )
            assert refused.status_code == status


async def test_household_page_shows_its_visit_history(services: Services) -> None:
    world = _world(services)
    _users(services)
    async with client_for(services) as client:
        await login(client, "cun")
        page = (await client.get(f"/cadre/helpers/households/{world.a1}")).text
    periods = re.findall(r'<li class="visit" data-period="([0-9-]+)">', page)
    assert periods == ["2026-11", "2026-10", "2026-09"], "newest first"
    assert "入户走访" in page and "电话走访" in page and "未能走访" in page and "外出务工" in page
    assert "工资性 1800" in page and "转移性 300" in page and "与上月差不多" in page
    assert "吃不愁 是" in page and "饮水安全 否" in page
    assert "饮水管道冻裂" in page, "problems decrypted for the household's village"
    assert "饮水工程：施工中" in page and "2026-11-01" in page
    assert '<a href="/cadre/helpers/' in page and "李帮扶" in page


async def test_overdue_list_and_late_measures(services: Services) -> None:
    world = _world(services)
    _users(services)
    async with client_for(services) as client:
        await login(client, "xiang")
        page = (await client.get("/cadre/helpers/overdue")).text
        assert "2026-10逾期未走访" in page
        late = re.findall(
            r'<tr class="overdue-row"><td><a href="/cadre/helpers/households/(\d+)"', page
        )
        assert sorted(int(x) for x in late) == sorted([world.a2, world.b1])
        assert "已报乡镇" in page, "three working days after October: the township's"
        measures = re.findall(r'<tr class="late-measure">.*?</tr>', page, re.S)
        assert len(measures) == 1 and "饮水工程" in measures[0] and "公益岗位" not in page
        november = (await client.get("/cadre/helpers/overdue?period=2026-11")).text
        assert "没有逾期未走访的农户" in november, "November has not ended"
        assert (await client.get("/cadre/helpers/overdue?period=2026-13")).status_code == 422
    async with client_for(services) as client:
        await login(client, "cun")
        page = (await client.get("/cadre/helpers/overdue")).text
        late = re.findall(
            r'<tr class="overdue-row"><td><a href="/cadre/helpers/households/(\d+)"', page
        )
        assert [int(x) for x in late] == [world.a2], "village B's household is not village A's"


async def test_visit_log_xlsx_in_the_ledgers_order(services: Services) -> None:
    world = _world(services)
    assert world.far
    _users(services)
    async with client_for(services) as client:
        await login(client, "xiang")
        response = await client.get("/cadre/helpers/visits.xlsx")
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        rows = xlsx_rows(response.content)
        since = await client.get("/cadre/helpers/visits.xlsx?since=2026-11")
        village = await client.get(f"/cadre/helpers/visits.xlsx?village={VILLAGE_B}")
    header = list(rows[2])
    assert tuple(header) == VISIT_LOG_COLUMNS
    assert header[:8] == list(MEASURES_COLUMNS[:8]) and header[-1] == "包抓干部"
    body = rows[3:]
    assert len(body) == 5, "the other township's visit is not in it"
    by_name = {(r[3], r[8]): r for r in body}
    first = by_name[("王大山", "2026-11")]
    assert first[1:7] == ["港口乡", "柏岭村", "王大山", id_number(1), 3, "非贫困户"]
    cells = dict(zip(header, first, strict=True))
    assert cells["走访方式"] == "入户走访" and cells["工资性收入"] == 1800
    assert cells["饮水安全"] == "否" and cells["发现的问题"] == "饮水管道冻裂"
    assert cells["完成时限"] == "2026-11-01；2026-10-01"
    assert cells["包抓干部"] == "李帮扶"
    assert (
        dict(zip(header, by_name[("王大山", "2026-09")], strict=True))["未走访原因"] == "外出务工"
    )
    assert len(xlsx_rows(since.content)) - 3 == 2
    assert [r[3] for r in xlsx_rows(village.content)[3:]] == ["陈四"]
    with services.db.read() as db:
        events = list(db.exec(select(AuditEvent).where(AuditEvent.action == "export.downloaded")))
    assert len(events) == 3 and events[0].data["export"] == "visits"
    async with client_for(services) as client:
        await login(client, "op")
        assert (await client.get("/cadre/helpers/visits.xlsx")).status_code == 403


async def test_a_visits_photo_and_voice_open_from_the_household_page(services: Services) -> None:
    world = _world(services)
    _users(services)
    with services.db.write() as db:
        visit = db.exec(select(Visit).where(Visit.household_id == world.a1)).first()
        assert visit is not None
        for n, kind in enumerate((AttachmentKind.PHOTO, AttachmentKind.VOICE)):
            file = Attachment(channel="webhook", external_id=f"v-{n}", kind=kind.value,
                              file_id=f"VF-{n}", needs_listening=kind is AttachmentKind.VOICE,
                              duration_seconds=12 if n else None)  # fmt: skip
            db.add(file)
            db.flush()
            db.add(VisitAttachment(visit_id=int(visit.id or 0), attachment_id=int(file.id or 0)))
        ids = (int(visit.id or 0), [a.id for a in db.exec(select(Attachment))])
    opened: list[str] = []
    deps = cadre_deps(services)

    async def open_file(attachment: Attachment) -> tuple[bytes, str | None]:
        opened.append(attachment.file_id)
        return b"content", "image/jpeg"

    deps.attachment_openers = {"webhook": open_file}
    app = FastAPI()
    app.include_router(cadre_router(deps))
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
    visit_id, (photo, voice) = ids
    base = f"/cadre/helpers/households/{world.a1}/visits/{visit_id}/files"
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        csrf = await login(client, "cun")
        page = (await client.get(f"/cadre/helpers/households/{world.a1}")).text
        assert f'href="{base}/{photo}"' in page
        assert f'<audio controls preload="none" src="{base}/{voice}">' in page
        assert "待听取" in page
        assert (await client.get(f"{base}/{photo}")).content == b"content"
        assert (await client.get(f"{base}/{voice}")).status_code == 200
        assert "待听取" in (await client.get(f"/cadre/helpers/households/{world.a1}")).text
        forged = await client.post(f"{base}/{voice}/listened", data={})
        assert forged.status_code == 403
        heard = await client.post(f"{base}/{voice}/listened", data={"csrf_token": csrf})
        assert heard.status_code == 303
        assert "待听取" not in (await client.get(f"/cadre/helpers/households/{world.a1}")).text
        wrong = f"/cadre/helpers/households/{world.a2}/visits/{visit_id}/files/{photo}"
        assert (await client.get(wrong)).status_code == 404, "the file of another household's visit"
    for outsider in ("boluo", "op"):  # another township; an operator, who only reads
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await login(client, outsider)
            assert (await client.get(f"{base}/{photo}")).status_code == 404, outsider
    assert opened == ["VF-0", "VF-1"]
    with services.db.read() as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.action == "helper.visit_file_opened"))
        assert [e.data["attachment"] for e in events] == [photo, voice]
        heard_by = db.exec(
            select(AuditEvent).where(AuditEvent.action == "helper.visit_voice_listened")
        ).all()
        assert [e.data["attachment"] for e in heard_by] == [voice]
