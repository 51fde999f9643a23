"""Measure deadlines (完成时限) on the same ladder as visits: village, then township.

A household's open measures are those of its latest visit that recorded measures (each
``{"measure", "progress", "deadline"}``); before any visit has, the enrolment's measures
and deadline (the 帮扶措施台账). A measure is complete when its progress says so
(:data:`DONE_WORDS`, or ``"done": true``). One not complete by its deadline is the
village's from the next day, and the township's after the policy's
``township_escalation_working_days`` working days, as for an overdue visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from intake.crypto import FieldCipher, FieldCipherError
from intake.helpers.models import Visit
from intake.helpers.policy import HelpersPolicy
from intake.helpers.visits import Level
from intake.households import Household
from intake.procedure import Enrollment
from intake.workdays import WorkdayCalendar

__all__ = ["DONE_WORDS", "LateMeasure", "late_measures", "measure_level"]

DONE_WORDS = frozenset({"done", "completed", "完成", "已完成", "已落实"})
_CLOSED_CATEGORIES = frozenset({"exited", "general"})


@dataclass(frozen=True)
class LateMeasure:
    """A measure past its deadline, as the overdue list shows it."""

    household_id: int
    head_name: str
    village_code: str
    measure: str
    deadline: date
    level: Level


def measure_level(
    deadline: date, today: date, calendar: WorkdayCalendar, policy: HelpersPolicy
) -> Level | None:
    """Who should hear of a measure due on ``deadline`` that is still open on ``today``."""
    if today <= deadline:
        return None
    township_day = calendar.add_working_days(deadline, policy.township_escalation_working_days + 1)
    return Level.TOWNSHIP if today >= township_day else Level.VILLAGE


def _complete(entry: dict[str, Any]) -> bool:
    return entry.get("done") is True or str(entry.get("progress", "")).strip() in DONE_WORDS


def _deadline(raw: Any) -> date | None:
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def _latest_entries(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    latest: dict[int, list[dict[str, Any]]] = {}
    query = (
        select(Visit)
        .where(col(Visit.household_id).in_(ids))
        .order_by(col(Visit.visited_on), col(Visit.id))
    )
    for visit in session.exec(query):
        if visit.measures:
            latest[visit.household_id] = list(visit.measures)
    return latest


def late_measures(
    session: Session, cipher: FieldCipher, villages: set[str], today: date,
    calendar: WorkdayCalendar, policy: HelpersPolicy,
) -> list[LateMeasure]:  # fmt: skip
    """Open measures past their deadline in ``villages``, by village and name."""
    households = {
        int(h.id or 0): h
        for h in session.exec(
            select(Household).where(
                col(Household.village_code).in_(villages),
                col(Household.category).not_in(_CLOSED_CATEGORIES),
            )
        )
    }
    latest = _latest_entries(session, sorted(households))
    late: list[LateMeasure] = []
    for household_id, household in households.items():
        entries = latest.get(household_id) or _enrolment_entries(session, cipher, household_id)
        for entry in entries:
            deadline = _deadline(entry.get("deadline"))
            if deadline is None or _complete(entry):
                continue
            level = measure_level(deadline, today, calendar, policy)
            if level is not None:
                name = str(entry.get("measure") or "")
                village = household.village_code
                late.append(
                    LateMeasure(household_id, household.head_name, village, name, deadline, level)
                )
    return sorted(late, key=lambda m: (m.village_code, m.head_name, m.deadline))


def _enrolment_entries(
    session: Session, cipher: FieldCipher, household_id: int
) -> list[dict[str, Any]]:
    query = (
        select(Enrollment)
        .where(Enrollment.household_id == household_id)
        .order_by(col(Enrollment.enrolled_at).desc())
    )
    enrolment = session.exec(query).first()
    if enrolment is None or enrolment.measures_due is None:
        return []
    try:
        text = cipher.unseal(enrolment.measures_cipher) or ""
    except FieldCipherError:
        text = "?"
    return [{"measure": text, "progress": "", "deadline": enrolment.measures_due.isoformat()}]
