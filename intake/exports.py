"""Exports in the shapes cadres already keep, always limited to the user's scope.

* the roster (花名册) and the measures ledger (帮扶措施台账) of seed 001 附件1/2 as XLSX,
  columns in the attachments' order, one row per enrolled household;
* the household screening form (入户排查表) of seed 002 as XLSX, one row per household
  waiting for its home visit, pre-filled with what the application already says;
* the reports register (群众反映登记表): one row per report the user may see, with no
  reporter's name, phone or ID number (a report's reporter is for its page alone);
* the public-notice list (公示名单) is in :mod:`intake.public_notice`.

Column widths fit the content (an 18-character ID number shows whole; East Asian
characters count double); a column of long text is capped and its cells wrap.

Every text cell is written as text, never as a formula: names, reasons and measures are
typed by villagers and cadres, and ``=HYPERLINK(…&E4…)`` in a name would send the ID
column away on a click. A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading ``'`` (OWASP, CSV injection) and is stored as a string.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from sqlmodel import Session, col, select

from intake.applications import Application
from intake.crypto import FieldCipher
from intake.helpers.visits import FOLLOWUP
from intake.households import Household
from intake.policy import Policy
from intake.procedure import Enrollment, enrolment_text
from intake.queue import ItemKind, ItemStatus, QueueItem
from intake.reports.kinds import Level, ReportKind
from intake.reports.models import Report, ReportState
from intake.reports.routing import visibility
from intake.users import Scope
from intake.workdays import SHANGHAI

__all__ = [
    "MEASURES_COLUMNS",
    "REPORTS_COLUMNS",
    "ROSTER_COLUMNS",
    "SCREENING_COLUMNS",
    "measures_xlsx",
    "reports_rows",
    "reports_xlsx",
    "roster_xlsx",
    "screening_xlsx",
    "text_cell",
]

#: Seed 001 附件1 石泉县返贫风险对象花名册, in the attachment's column order.
ROSTER_COLUMNS = (
    "序号", "镇", "村", "户主姓名", "户主证件号码", "家庭人口", "脱贫年度", "返贫风险类型",
    "详细原因", "包抓干部",
)  # fmt: skip
#: Seed 001 附件2 石泉县返贫风险对象帮扶措施台账, in the attachment's column order.
MEASURES_COLUMNS = (
    "序号", "镇", "村", "户主姓名", "户主证件号码", "家庭人口", "脱贫年度", "返贫风险类型",
    "制定的帮扶措施", "完成时限", "包抓干部",
)  # fmt: skip
#: Seed 002 附件 2022年防止返贫监测帮扶第二轮入户排查表, field by field.
SCREENING_COLUMNS = (
    "排查人（签字）", "排查时间", "户主姓名", "人口数", "联系方式（电话/微信）",
    "脱贫户", "未消除风险监测户", "已消除风险监测户", "档外农户",
    "受疫情灾情影响较大，特别是收入下降明显的农户",
    "务工不稳定，特别是有外地务工返乡、新增劳动力和当地就业不稳定成员的农户",
    "新识别和新申请低保，特别是收入较低、家庭负担较重的农户",
    "新增加的因病、因残、因学等刚性支出较大或收入大幅缩减导致基本生活出现严重困难的农户",
    "省防返贫监测与帮扶管理平台综合比对反馈各地的预警信息中问题相对突出，但没有纳入监测对象的农户",
    "其它特殊困难农户（简要说明）", "排查出的风险问题", "拟采取的帮助措施（有问题则必填）",
    "是否有小额信贷需求", "户主（签字）",
)  # fmt: skip

#: The reports register: what came in, about whom, where it is handled, how far it got.
REPORTS_COLUMNS = (
    "序号", "编号", "类型", "来源", "乡镇", "村", "反映对象", "对象姓名", "办理层级", "状态",
    "收到日期", "答复期限", "答复日期",
)  # fmt: skip
KIND_NAMES = {
    ReportKind.TIP: "线索", ReportKind.REPORT: "举报", ReportKind.COMPLAINT: "投诉",
    ReportKind.INQUIRY: "咨询", ReportKind.SUGGESTION: "建议",
}  # fmt: skip
SOURCE_NAMES = {"chat": "网上", "hotline": "热线电话", "mailbox": "意见箱"}
SUBJECT_NAMES = {
    "household": "农户", "cadre": "村干部", "committee": "村委会", "township": "乡镇",
    "general": "—",
}  # fmt: skip

#: Leading characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Column widths in characters: the narrowest, the widest (longer text wraps), and the
#: widest a header may make its column before it wraps (the screening form's are long).
MIN_WIDTH, MAX_WIDTH, HEADER_WIDTH = 6, 50, 16
NOT_POOR = "非贫困户"  # seed 001 附件 备注1
TICK = "√"
_STRESS = frozenset({"medical", "education", "rigid_expense_exceeds_income"})


def _places(policies: dict[str, Policy]) -> dict[str, tuple[str, str]]:
    """village code -> (township name, village name)."""
    return {v.code: (t.name, v.name) for p in policies.values() for t, v in p.villages()}


def _risk_names(codes: str, policies: dict[str, Policy]) -> str:
    names = []
    for code in filter(None, codes.split(",")):
        policy = next((p for p in policies.values() if p.risk_type(code)), None)
        names.append(policy.risk_type_name(code) if policy else code)
    return "、".join(names)


def _in_scope(scope: Scope, village: str | None, other: Any) -> Any:
    """``select(QueueItem, other)`` of the applications in scope (and in ``village``)."""
    query = select(QueueItem, other).where(scope.where(), QueueItem.kind == ItemKind.APPLICATION)
    if village:
        query = query.where(QueueItem.village_code == village)
    return query


def _enrolled(
    session: Session, scope: Scope, village: str | None
) -> list[tuple[QueueItem, Enrollment, Household | None]]:
    query = (
        _in_scope(scope, village, Enrollment)
        .where(QueueItem.status == ItemStatus.ENROLLED)
        .join(Enrollment, col(Enrollment.queue_item_id) == QueueItem.id)
        .order_by(col(QueueItem.village_code), col(QueueItem.id))
    )
    rows = []
    for item, enrollment in session.exec(query):
        household = (
            session.get(Household, enrollment.household_id) if enrollment.household_id else None
        )
        rows.append((item, enrollment, household))
    return rows


def _household_cells(
    number: int,
    item: QueueItem,
    household: Household | None,
    cipher: FieldCipher,
    places: dict[str, tuple[str, str]],
) -> list[Any]:
    township, village = places.get(item.village_code or "", (item.township_code, ""))
    exit_year = household.poverty_exit_year if household else None
    return [
        number,
        township,
        village,
        household.head_name if household else "",
        cipher.decrypt(household.id_cipher) if household else "",
        household.size if household and household.size else "",
        exit_year if exit_year else NOT_POOR,
    ]


def roster_rows(
    session: Session,
    scope: Scope,
    cipher: FieldCipher,
    policies: dict[str, Policy],
    village: str | None = None,
) -> list[list[Any]]:
    """The roster's rows (序号 … 包抓干部) for the enrolled households in scope."""
    return _enrolled_rows(
        session,
        scope,
        cipher,
        policies,
        village,
        lambda e: [enrolment_text(e, cipher)[0], e.helper_name],
    )


def measures_rows(
    session: Session,
    scope: Scope,
    cipher: FieldCipher,
    policies: dict[str, Policy],
    village: str | None = None,
) -> list[list[Any]]:
    """The measures ledger's rows (序号 … 包抓干部) for the enrolled households in scope."""
    return _enrolled_rows(
        session,
        scope,
        cipher,
        policies,
        village,
        lambda e: [
            enrolment_text(e, cipher)[1],
            e.measures_due.isoformat() if e.measures_due else "",
            e.helper_name,
        ],
    )


def _enrolled_rows(
    session: Session,
    scope: Scope,
    cipher: FieldCipher,
    policies: dict[str, Policy],
    village: str | None,
    tail: Callable[[Enrollment], list[Any]],
) -> list[list[Any]]:
    """One row per enrolled household: its cells, the risk types, then ``tail``'s cells."""
    places = _places(policies)
    return [
        [
            *_household_cells(n, item, household, cipher, places),
            _risk_names(enrollment.risk_codes, policies),
            *tail(enrollment),
        ]
        for n, (item, enrollment, household) in enumerate(_enrolled(session, scope, village), 1)
    ]


def _size(household: Household | None) -> int | str:
    return household.size if household and household.size else ""


def _category_ticks(household: Household | None) -> list[str]:
    category = household.category if household else "general"
    lifted = bool(household and household.poverty_exit_year) or category == "lifted"
    return [
        TICK if lifted else "",
        TICK if category == "monitored" else "",
        TICK if category == FOLLOWUP else "",  # risk eliminated, in its follow-up year
        TICK if category == "general" and not lifted else "",
    ]


def _group_ticks(assessment: dict[str, Any]) -> list[str]:
    met = set(assessment.get("criteria_met", []))
    other = met - _STRESS - {"disaster", "unemployment", "income_below_line"}
    names = "、".join(rt.get("name", "") for rt in assessment.get("risk_types", []))
    return [
        TICK if "disaster" in met else "",
        TICK if "unemployment" in met else "",
        "",  # new subsistence-allowance applicants: not asked by the bot
        TICK if met & _STRESS else "",
        "",  # flagged by the provincial platform: not known here
        f"{TICK} {names}" if other else "",
    ]


def screening_rows(
    session: Session, scope: Scope, cipher: FieldCipher, village: str | None = None
) -> list[list[Any]]:
    """One pre-filled screening form row per household awaiting its home visit."""
    query = (
        _in_scope(scope, village, Application)
        .where(col(QueueItem.status).in_([ItemStatus.SUBMITTED, ItemStatus.VILLAGE_REVIEW]))
        .join(Application, col(Application.queue_item_id) == QueueItem.id)
        .order_by(col(QueueItem.village_code), col(QueueItem.id))
    )
    rows = []
    for _item, application in session.exec(query):
        household = (
            session.get(Household, application.household_id) if application.household_id else None
        )
        assessment = application.assessment or {}
        found = [e["text_zh"] for e in assessment.get("explanations", []) if e.get("kind") == "met"]
        rows.append(
            [
                "", "", _accepted_name(household, application), _size(household),
                _accepted_phone(household, application, cipher),
                *_category_ticks(household), *_group_ticks(assessment),
                "；".join(found) or "无", "", "", "",
            ]
        )  # fmt: skip
    return rows


def _accepted_name(household: Household | None, application: Application) -> str:
    """The household's name as its village accepted it (a new filing's may differ)."""
    return household.head_name if household else application.head_name or ""


def _accepted_phone(
    household: Household | None, application: Application, cipher: FieldCipher
) -> str:
    """The household's accepted phone; the filing's only while the household has none."""
    token = household.phone_cipher if household and household.phone_cipher else None
    return cipher.unseal(token or application.phone_cipher) or ""


def reports_rows(
    session: Session,
    scope: Scope,
    cipher: FieldCipher,
    policies: dict[str, Policy],
    village: str | None = None,
) -> list[list[Any]]:
    """One row per report ``scope`` may see (:func:`~intake.reports.routing.visibility`),
    oldest first; never the reporter's identity."""
    from intake.reports.figures import LEVEL_NAMES, STATE_NAMES  # figures imports text_cell

    query = select(Report).where(visibility(scope).sql)
    if village:
        query = query.where(Report.village_code == village)
    places = _places(policies)
    townships = {t.code: t.name for p in policies.values() for t in p.townships}
    rows = []
    reports = session.exec(query.order_by(col(Report.received_on), col(Report.id)))
    for number, report in enumerate(reports, 1):
        _township, village_name = places.get(report.village_code or "", ("", ""))
        rows.append(
            [
                number,
                report.tracking_code,
                KIND_NAMES.get(ReportKind(report.kind), report.kind),
                SOURCE_NAMES.get(report.source, report.source),
                townships.get(report.township_code, report.township_code),
                village_name,
                SUBJECT_NAMES.get(report.subject_kind, report.subject_kind),
                cipher.unseal(report.subject_name_cipher) or "",
                LEVEL_NAMES[Level(report.routed_level)],
                STATE_NAMES[ReportState(report.state)],
                report.received_on.isoformat(),
                report.answer_due.isoformat(),
                report.answered_on.isoformat() if report.answered_on else "",
            ]
        )
    return rows


def reports_xlsx(rows: list[list[Any]], unit: str, now: datetime) -> bytes:
    """The reports register workbook, laid out like the roster."""
    return _xlsx(f"群众反映登记表（{_month(now)}）", unit, REPORTS_COLUMNS, rows)


def text_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it without ever evaluating it (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _append_text_row(sheet: Any, values: Sequence[Any]) -> None:
    """Append a row whose strings are stored as strings, whatever they start with."""
    sheet.append(text_row(sheet, values))


def text_row(sheet: Any, values: Iterable[Any]) -> list[Cell]:
    """Cells for ``sheet.append``: strings kept strings, never formulas.

    The cells are made before they are appended: fixing them up afterwards through
    ``sheet[sheet.max_row]`` makes openpyxl scan every cell of the sheet for each row,
    which turns a 50,000-row register into minutes.
    """
    cells = []
    for value in values:
        cell = Cell(sheet, row=1, column=1, value=text_cell(value))  # placed by append
        if isinstance(cell.value, str):
            cell.data_type = "s"
        cells.append(cell)
    return cells


def text_width(value: Any) -> int:
    """How many character widths ``value`` takes in a cell (CJK and full-width count 2)."""
    text = "" if value is None else str(text_cell(value))
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit_columns(sheet: Any, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
    """Widen each column to its longest cell; a long header or long text wraps instead."""
    for index, name in enumerate(columns, 1):
        cells = [text_width(row[index - 1]) for row in rows if len(row) >= index]
        width = max(MIN_WIDTH, min(text_width(name), HEADER_WIDTH), *cells) + 2
        letter = sheet.cell(row=3, column=index).column_letter
        sheet.column_dimensions[letter].width = min(MAX_WIDTH, width)
        if width > MAX_WIDTH:
            for (cell,) in sheet.iter_rows(min_row=4, min_col=index, max_col=index):
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _xlsx(title: str, unit: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    rows = list(rows)
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([title])
    _append_text_row(sheet, [f"单位：{unit}"])
    sheet.append(list(columns))
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    sheet["A1"].font = Font(bold=True, size=14)
    for row in rows:
        _append_text_row(sheet, row)
    sheet.freeze_panes = "A4"
    _fit_columns(sheet, columns, rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _month(now: datetime) -> str:
    local = now.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月"


def roster_xlsx(rows: list[list[Any]], unit: str, now: datetime) -> bytes:
    """The roster workbook: title, unit line, the seed's header, the rows."""
    return _xlsx(f"返贫风险对象花名册（{_month(now)}）", unit, ROSTER_COLUMNS, rows)


def measures_xlsx(rows: list[list[Any]], unit: str, now: datetime) -> bytes:
    """The measures ledger workbook, laid out like the roster."""
    return _xlsx(f"返贫风险对象帮扶措施台账（{_month(now)}）", unit, MEASURES_COLUMNS, rows)


def screening_xlsx(rows: list[list[Any]], unit: str, now: datetime) -> bytes:
    """The screening forms, one household per row."""
    return _xlsx(f"防止返贫监测帮扶入户排查表（{_month(now)}）", unit, SCREENING_COLUMNS, rows)
