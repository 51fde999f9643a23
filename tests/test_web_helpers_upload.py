"""The roster upload page over real HTTP, on SQLite and PostgreSQL: a dry run, the import
after it, wrong columns, bad rows listed and downloadable, a safe re-import, and who may
see the page and a job."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
from cadre_support import VILLAGE_A, add_user, client_for, login, xlsx_rows
from helpers_support import id_number, row, write_csv, write_xlsx
from sqlmodel import col, func, select

from bot.services import Services
from intake.audit import AuditEvent
from intake.helpers.models import Helper
from intake.helpers.roster_file import IMPORT_COLUMNS
from intake.households import Household
from intake.users import Role

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


async def _upload(
    client: httpx.AsyncClient, csrf: str, path: Path, *, dry_run: bool
) -> httpx.Response:
    data = {"csrf_token": csrf, **({"dry_run": "on"} if dry_run else {})}
    files = {"file": (path.name, _bytes(path), XLSX)}
    return await client.post("/cadre/helpers/roster", data=data, files=files)


async def _finished(client: httpx.AsyncClient, location: str) -> str:
    """The job's status fragment once it has finished (polled with a bound)."""
    deadline = time.monotonic() + 60
    while True:
        fragment = (await client.get(location + "/status")).text
        state = re.search(r'data-state="([a-z]+)"', fragment)
        assert state is not None
        if state.group(1) in ("done", "failed"):
            assert "hx-trigger" not in fragment, "a finished job stops the polling"
            return fragment
        assert 'hx-trigger="every 1s"' in fragment
        assert time.monotonic() < deadline, "the import did not finish"
        await asyncio.sleep(0.05)


def _count(html: str, name: str) -> int:
    found = re.search(rf'<dd id="n-{name}">(\d+)</dd>', html)
    assert found is not None, name
    return int(found.group(1))


def _households(services: Services) -> int:
    with services.db.read() as db:
        return int(db.exec(select(func.count(col(Household.id)))).one())


async def test_dry_run_then_import_then_reimport(services: Services, tmp_path: Path) -> None:
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    rows = [
        row(1),
        row(2, village="横岭村"),
        row(3, id_text=id_number(3, wrong_check=True)),
        ["", "", "", "", "", "", "", "", "", "", ""],
        row(4, village="示例一村"),  # not a village of this township
        row(5, helper="王帮扶", phone="13800000009"),
    ]
    path = write_xlsx(tmp_path / "roster.xlsx", rows)
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        started = await _upload(client, csrf, path, dry_run=True)
        assert started.status_code == 303
        location = started.headers["location"]
        assert (await client.get(location)).status_code == 200
        dry = await _finished(client, location)
        assert _count(dry, "rows") == 6 and _count(dry, "created") == 3
        assert _count(dry, "rejected") == 2
        assert 'id="import-now"' in dry and "试导入" in (await client.get(location)).text
        assert _households(services) == 0, "a dry run keeps nothing"
        problems = re.findall(r'<tr class="problem"><td>(\d+)</td><td>([^<]+)</td>', dry)
        assert problems == [("6", "户主证件号码"), ("8", "村")], "spreadsheet row numbers"
        assert "校验码" in dry
        rejected = await client.get(location + "/rejected.xlsx")
        assert rejected.status_code == 200
        sheet = xlsx_rows(rejected.content)
        assert list(sheet[0][3:]) == list(IMPORT_COLUMNS)
        assert [r[0] for r in sheet[1:]] == [6, 8]
        assert sheet[1][3 + 4] == id_number(3, wrong_check=True), "as typed, to correct"
        go = await client.post(location + "/import", data={"csrf_token": csrf})
        assert go.status_code == 303 and go.headers["location"] != location
        done = await _finished(client, go.headers["location"])
        assert _count(done, "created") == 3 and 'id="imported"' in done
        assert _households(services) == 3
        again = await client.post(location + "/import", data={"csrf_token": csrf})
        assert again.headers["location"] == go.headers["location"], "started once"
        second = await _upload(client, csrf, path, dry_run=False)
        redo = await _finished(client, second.headers["location"])
        assert _count(redo, "created") == 0 and _count(redo, "unchanged") == 3
    assert _households(services) == 3, "re-importing updates, never duplicates"
    with services.db.read() as db:
        imports = list(db.exec(select(AuditEvent).where(AuditEvent.action == "roster.imported")))
        assert [(e.data["created"], e.data["rejected"]) for e in imports] == [(3, 2), (0, 2)]
        assert sorted(h.name for h in db.exec(select(Helper))) == ["李帮扶", "王帮扶"]


async def test_wrong_columns_and_wrong_files(services: Services, tmp_path: Path) -> None:
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    header = list(IMPORT_COLUMNS)
    header[4], header[5] = header[5], header[4]
    path = write_xlsx(tmp_path / "swapped.xlsx", [row(1)], header=header)
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        started = await _upload(client, csrf, path, dry_run=False)
        failed = await _finished(client, started.headers["location"])
        assert 'data-state="failed"' in failed and "文件的列不对" in failed
        assert "第5列应为“户主证件号码”，文件中是“家庭人口”" in failed
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        wrong = await _upload(client, csrf, text, dry_run=False)
        assert wrong.status_code == 422 and "只能上传" in wrong.text
        empty = await client.post("/cadre/helpers/roster", data={"csrf_token": csrf})
        assert empty.status_code == 422 and "请选择" in empty.text
        forged = await client.post("/cadre/helpers/roster", files={"file": ("a.xlsx", b"x")})
        assert forged.status_code == 403
    assert _households(services) == 0


async def test_csv_upload_and_who_may_see_it(services: Services, tmp_path: Path) -> None:
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "xiang2", Role.TOWNSHIP, "gangkou")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    path = write_csv(tmp_path / "roster.csv", [row(1), row(2)], encoding="gb18030")
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        started = await _upload(client, csrf, path, dry_run=False)
        location = started.headers["location"]
        assert _count(await _finished(client, location), "created") == 2
    async with client_for(services) as client:
        await login(client, "xiang2")
        assert (await client.get(location)).status_code == 404, "a job is its uploader's"
        assert (await client.get(location + "/rejected.xlsx")).status_code == 404
    async with client_for(services) as client:
        await login(client, "cun")
        assert (await client.get("/cadre/helpers/roster")).status_code == 403
        assert (await client.get(location)).status_code == 403
