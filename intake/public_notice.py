"""The public notice (公示名单) of households proposed for monitoring, as a posted notice.

A notice on a village board names the households, says how to object, and is signed by
the bodies that issue it (the village committee and the township government) with its
date. It leaves out ID numbers, phone numbers, bank and health details: only village,
head's name, household size and the notice period are public. With nobody on notice it
says so in words instead of printing an empty table, so a blank sheet is never posted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col

from intake.applications import Application
from intake.exports import _accepted_name, _in_scope, _places
from intake.households import Household
from intake.notices import format_date
from intake.policy import Policy
from intake.queue import ItemStatus, QueueItem
from intake.users import Scope
from intake.workdays import SHANGHAI

__all__ = [
    "EMPTY_TEXT",
    "NOTICE_COLUMNS",
    "Issuer",
    "NoticeRow",
    "issuer_of",
    "notice_pdf",
    "notice_rows",
]

#: The public notice: nothing that identifies beyond the name, nothing about health.
NOTICE_COLUMNS = ("序号", "乡镇", "村", "户主姓名", "家庭人口", "公示开始", "公示结束")
#: What an empty notice says (a posted notice is in Chinese, whoever prints it).
EMPTY_TEXT = "目前没有拟纳入防止返贫监测对象的农户在公示期内。"


@dataclass(frozen=True)
class NoticeRow:
    """One household on the public notice: nothing private."""

    number: int
    township: str
    village: str
    head_name: str
    size: int | None
    starts: date
    ends: date


@dataclass(frozen=True)
class Issuer:
    """Who signs the notice and when: ``bodies`` one per line, ``day`` as written."""

    bodies: tuple[str, ...]
    day: str


def issuer_of(village: str | None, townships: list[str], region: str, today: date) -> Issuer:
    """The signature of a notice for ``village`` (a name) or for ``townships`` (names).

    A village's notice is signed by its village committee and its township government;
    a wider one by each township government in it, or by the region when it has none.
    """
    bodies = [f"{village}村民委员会"] if village else []
    bodies += [f"{name}人民政府" for name in dict.fromkeys(townships)]
    return Issuer(tuple(bodies or [region]), format_date(today, "zh_CN"))


def notice_rows(
    session: Session,
    scope: Scope,
    policies: dict[str, Policy],
    village: str | None = None,
    *,
    now: datetime,
) -> list[NoticeRow]:
    """The households now on public notice in scope (``now`` dates a notice without an end)."""
    places = _places(policies)
    today = now.astimezone(SHANGHAI).date()
    query = (
        _in_scope(scope, village, Application)
        .where(QueueItem.status == ItemStatus.PUBLIC_NOTICE)
        .join(Application, col(Application.queue_item_id) == QueueItem.id)
        .order_by(col(QueueItem.village_code), col(QueueItem.id))
    )
    rows = []
    for number, (item, application) in enumerate(session.exec(query), 1):
        policy = next((p for p in policies.values() if p.region.code == item.region_code), None)
        days = policy.time_limits.public_notice_days if policy else 7
        ends = item.due_at.astimezone(SHANGHAI).date() if item.due_at else today
        household = (
            session.get(Household, application.household_id) if application.household_id else None
        )
        township, village_name = places.get(item.village_code or "", (item.township_code, ""))
        rows.append(
            NoticeRow(
                number, township, village_name, _accepted_name(household, application),
                household.size if household else None, ends - timedelta(days=days), ends,
            )
        )  # fmt: skip
    return rows


def notice_pdf(rows: list[NoticeRow], title: str, footer: str, issuer: Issuer) -> bytes:
    """The public notice as an A4 PDF (CJK text in the viewer's STSong font)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    heading = ParagraphStyle("h", fontName="STSong-Light", fontSize=16, leading=22, alignment=1)
    body = ParagraphStyle("b", fontName="STSong-Light", fontSize=10.5, leading=16)
    signed = ParagraphStyle("s", parent=body, alignment=2, leading=20)
    listing: Any = _pdf_table(rows) if rows else Paragraph(EMPTY_TEXT, body)
    story = [Paragraph(title, heading), Spacer(1, 12), listing, Spacer(1, 12)]
    if rows:
        story.append(Paragraph(footer, body))
    story.append(Spacer(1, 24))
    story += [Paragraph(line, signed) for line in (*issuer.bodies, issuer.day)]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=title).build(story)
    return buffer.getvalue()


def _pdf_table(rows: list[NoticeRow]) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    data: list[list[Any]] = [list(NOTICE_COLUMNS)]
    for row in rows:
        data.append(
            [row.number, row.township, row.village, row.head_name, row.size or "",
             row.starts.isoformat(), row.ends.isoformat()]
        )  # fmt: skip
    table = Table(data, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "STSong-Light", 10.5),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table
