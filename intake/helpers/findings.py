"""A risk found on a visit goes to the village queue (走访排查, seeds 000 and 004).

A sharp fall in income, a new serious illness or a disaster reported in a visit is filed
as a tip (线索) about the household, from the helper by name, routed like any other tip
about a household (the village first). The report's text names the visit record, and the
visit's audit event names the report, so either leads to the other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from intake import audit
from intake.crypto import FieldCipher
from intake.helpers.models import Helper, Visit
from intake.households import Household
from intake.policy import Policy
from intake.reports.filing import ReportDraft, Reporter, file_report
from intake.reports.kinds import report_rules
from intake.reports.models import Report
from intake.workdays import WorkdayCalendar

__all__ = ["SHARP_DROP", "Finding", "file_finding", "sharp_drop"]

#: PROJECT CHOICE: income down by this share or more against the last month given by
#: source counts as a sharp drop (seed 000 names 收入骤减 without a number).
SHARP_DROP = 0.3


class Finding(StrEnum):
    """What a visit found that the village must look at."""

    INCOME_DROP = "income_drop"
    ILLNESS = "illness"
    DISASTER = "disaster"
    OTHER = "other"


_WORDS = {
    Finding.INCOME_DROP: "收入骤减",
    Finding.ILLNESS: "新发重大疾病",
    Finding.DISASTER: "遭受灾害",
    Finding.OTHER: "其他新风险",
}


def sharp_drop(before: float | None, now: float | None) -> bool:
    """Whether income fell by :data:`SHARP_DROP` or more (both months given by source)."""
    if before is None or now is None or before <= 0:
        return False
    return (before - now) / before >= SHARP_DROP


def file_finding(
    session: Session,
    cipher: FieldCipher,
    *,
    visit: Visit,
    household: Household,
    helper: Helper,
    findings: list[Finding],
    problems: str | None,
    policy: Policy,
    calendar: WorkdayCalendar,
    new_code: Callable[[], str],
    now: datetime,
) -> Report:
    """File the visit's findings as a tip about the household; returns the report."""
    lines = [
        f"走访排查：帮扶责任人{helper.name}于{visit.visited_on.isoformat()}走访发现："
        + "、".join(_WORDS[f] for f in findings)
        + "。",
        f"走访记录编号：{visit.id}",
    ]
    if problems:
        lines.append(f"发现的问题：{problems}")
    phone = cipher.unseal(helper.phone_cipher)
    draft = ReportDraft(
        kind="tip",
        village_code=household.village_code,
        subject="household",
        text="\n".join(lines)[:2000],
        subject_name=household.head_name,
        reporter=Reporter(name=helper.name, phone=phone) if phone else None,
    )
    report = file_report(
        session, draft, policy=policy, rules=report_rules(policy), cipher=cipher,
        calendar=calendar, new_code=new_code, now=now, actor=f"helper:{helper.id}",
    )  # fmt: skip
    audit.record(
        session, actor=f"helper:{helper.id}", action="helper.visit_finding",
        subject_kind="household", subject_id=int(household.id or 0), at=now,
        data={"visit": visit.id, "report": report.tracking_code,
              "findings": [f.value for f in findings]},
    )  # fmt: skip
    return report
