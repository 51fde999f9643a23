"""The visit log (走访记录) as a spreadsheet, laid out like seed 001's measures ledger.

The household's columns come first in the ledger's order (序号 … 返贫风险类型), then the
visit's own (month, date, mode, income by source, the 两不愁三保障 and water checks,
problems found, measures' progress and deadlines), and the helper (包抓干部) last, as in
the ledger. Like the ledger it carries ID numbers: the page that serves it records
each download.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, col, select

from intake.crypto import FieldCipher, FieldCipherError
from intake.exports import MEASURES_COLUMNS, NOT_POOR, text_row
from intake.helpers.models import Helper, RosterEntry, Visit
from intake.helpers.visits import CHECKS, INCOME_SOURCES
from intake.households import Household
from intake.policy import Policy
from intake.procedure import Enrollment
from intake.workdays import SHANGHAI

__all__ = ["VISIT_COLUMNS", "VISIT_LOG_COLUMNS", "visit_log_rows", "visit_log_xlsx"]

#: The visit's own columns (between the ledger's household columns and its helper).
VISIT_COLUMNS = (
    "走访月份", "走访日期", "走访方式", "未走访原因",
    "工资性收入", "生产经营性收入", "财产性收入", "转移性收入",
    "吃不愁", "穿不愁", "义务教育", "基本医疗", "住房安全", "饮水安全",
    "发现的问题", "帮扶措施进展", "完成时限",
)  # fmt: skip
#: 序号 … 返贫风险类型 of the ledger, the visit's columns, then 包抓干部.
VISIT_LOG_COLUMNS = (*MEASURES_COLUMNS[:8], *VISIT_COLUMNS, MEASURES_COLUMNS[-1])
MODES = {"in_person": "入户走访", "phone": "电话走访", "not_visited": "未能走访"}
REASONS = {
    "away_for_work": "外出务工",
    "in_hospital": "住院",
    "refused": "拒绝走访",
    "other": "其他",
}
_YES_NO = {True: "是", False: "否"}


def _yes_no(value: Any) -> str:
    return _YES_NO.get(value, "") if isinstance(value, bool) else ""


def _risk_names(codes: str, policies: dict[str, Policy]) -> str:
    names = []
    for code in filter(None, codes.split(",")):
        policy = next((p for p in policies.values() if p.risk_type(code)), None)
        names.append(policy.risk_type_name(code) if policy else code)
    return "、".join(names)


def _risk_codes(session: Session, household_ids: list[int]) -> dict[int, str]:
    codes: dict[int, str] = {}
    enrolled = select(Enrollment).where(col(Enrollment.household_id).in_(household_ids))
    for enrolment in session.exec(enrolled.order_by(col(Enrollment.enrolled_at))):
        codes[int(enrolment.household_id or 0)] = enrolment.risk_codes
    roster = select(RosterEntry).where(col(RosterEntry.household_id).in_(household_ids))
    for entry in session.exec(roster):
        codes[entry.household_id] = entry.risk_codes
    return codes


def _clear(cipher: FieldCipher, sealed: str | None) -> str:
    try:
        return cipher.unseal(sealed) or ""
    except FieldCipherError:
        return "?"


def _visit_cells(visit: Visit, cipher: FieldCipher) -> list[Any]:
    income = visit.income or {}
    same = income.get("about_the_same") is True
    measures = visit.measures or []
    return [
        visit.period,
        visit.visited_on.isoformat(),
        MODES.get(visit.mode, visit.mode),
        REASONS.get(visit.not_visited_reason or "", visit.not_visited_reason or ""),
        *("与上月相当" if same else income.get(s, "") for s in INCOME_SOURCES),
        *(_yes_no(visit.checks.get(c)) if visit.checks else "" for c in CHECKS),
        _clear(cipher, visit.problems_cipher),
        "；".join(f"{m.get('measure', '')}：{m.get('progress', '')}" for m in measures),
        "；".join(str(m.get("deadline") or "") for m in measures if m.get("deadline")),
    ]


def visit_log_rows(
    session: Session, cipher: FieldCipher, policies: dict[str, Policy], villages: set[str],
    *, since: str | None = None, until: str | None = None,
) -> list[list[Any]]:  # fmt: skip
    """One row per visit record in ``villages`` (periods ``since``..``until``, inclusive),
    by village, household and date."""
    places = {v.code: (t.name, v.name) for p in policies.values() for t, v in p.villages()}
    query = (
        select(Visit, Household)
        .join(Household, col(Household.id) == Visit.household_id)
        .where(col(Household.village_code).in_(villages))
        .order_by(col(Household.village_code), col(Household.head_name), col(Visit.visited_on),
                  col(Visit.id))
    )  # fmt: skip
    if since:
        query = query.where(col(Visit.period) >= since)
    if until:
        query = query.where(col(Visit.period) <= until)
    found = list(session.exec(query))
    codes = _risk_codes(session, sorted({int(h.id or 0) for _, h in found}))
    helper_ids = {v.helper_id for v, _ in found if v.helper_id}
    names = {
        int(h.id or 0): h.name
        for h in session.exec(select(Helper).where(col(Helper.id).in_(helper_ids)))
    }
    rows = []
    for number, (visit, household) in enumerate(found, 1):
        township, village = places.get(household.village_code, ("", household.village_code))
        rows.append([
            number, township, village, household.head_name,
            _clear(cipher, household.id_cipher) if household.id_cipher else "",
            household.size or "", household.poverty_exit_year or NOT_POOR,
            _risk_names(codes.get(int(household.id or 0), ""), policies),
            *_visit_cells(visit, cipher),
            names.get(visit.helper_id or 0, ""),
        ])  # fmt: skip
    return rows


def visit_log_xlsx(rows: Sequence[Sequence[Any]], unit: str, now: datetime) -> bytes:
    """The workbook: title, unit line, the header, the rows (every string kept a string).

    Written in openpyxl's write-only mode: a township's year of visits is tens of
    thousands of rows, which the ordinary mode would hold in memory cell by cell.
    """
    local = now.astimezone(SHANGHAI)
    title = f"帮扶责任人走访记录（{local.year}年{local.month}月导出）"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("走访记录")
    sheet.freeze_panes = "A4"
    heading = text_row(sheet, [title])
    heading[0].font = Font(bold=True, size=14)
    sheet.append(heading)
    sheet.append(text_row(sheet, [f"单位：{unit}"]))
    header = text_row(sheet, VISIT_LOG_COLUMNS)
    for cell in header:
        cell.font = Font(bold=True)
    sheet.append(header)
    for row in rows:
        sheet.append(text_row(sheet, row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
