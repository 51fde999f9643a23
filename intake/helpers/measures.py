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
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from intake.crypto import FieldCipher, FieldCipherError
from intake.helpers.models import Visit
from intake.helpers.policy import HelpersPolicy
from intake.helpers.visits import Level
from intake.households import Household
from intake.procedure import Enrollment
from intake.workdays import WorkdayCalendar

__all__ = [
    "DONE_WORDS",
    "MAX_MEASURES",
    "LateMeasure",
    "is_complete",
    "late_measures",
    "ledger_entries",
    "ledger_of",
    "measure_level",
]

DONE_WORDS = frozenset({"done", "completed", "完成", "已完成", "已落实"})
#: Measures a visit asks about, one step each (a ledger rarely has more than a handful).
MAX_MEASURES = 12
#: Entries a ledger carries from visit to visit at most (a guard against a runaway list).
MAX_LEDGER = 50
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


def is_complete(entry: dict[str, Any]) -> bool:
    """Whether a ledger entry's progress says it is done."""
    return entry.get("done") is True or str(entry.get("progress", "")).strip() in DONE_WORDS


def _deadline(raw: Any) -> date | None:
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


#: One ledger entry list and when it was written.
_Written = tuple[datetime, list[dict[str, Any]]]


def _visit_entries(session: Session, ids: list[int]) -> dict[int, _Written]:
    """Each household's measures as the last visit recorded that carried any (recording
    order: a back-dated visit logged later was built on the ledger of its day)."""
    latest: dict[int, _Written] = {}
    for part in _chunks(ids):
        query = (
            select(Visit.household_id, Visit.measures, Visit.recorded_at)
            .where(col(Visit.household_id).in_(part))
            .order_by(col(Visit.id))
        )
        for household_id, measures, at in session.exec(query):
            if measures:
                latest[int(household_id)] = (at, list(measures))
    return latest


def _enrolment_entries(
    session: Session, cipher: FieldCipher, ids: list[int]
) -> dict[int, _Written]:
    """Each household's latest enrolment's measures and deadline (the 台账), one query per
    chunk of households; no deadline is an open measure with none."""
    found: dict[int, _Written] = {}
    for part in _chunks(ids):
        query = (
            select(
                col(Enrollment.household_id),
                col(Enrollment.measures_cipher),
                col(Enrollment.measures_due),
                col(Enrollment.enrolled_at),
            )
            .where(col(Enrollment.household_id).in_(part))
            .order_by(col(Enrollment.enrolled_at), col(Enrollment.id))
        )
        for household_id, sealed, due, at in session.exec(query):
            try:
                text = cipher.unseal(sealed) or ""
            except FieldCipherError:
                text = "?"
            entries = [
                {"measure": text, "progress": "", "deadline": due.isoformat() if due else None}
            ]
            found[int(household_id or 0)] = (at, entries if text or due else [])
    return found


def _ledgers(
    session: Session, cipher: FieldCipher, ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each household's ledger: its latest visit's measures, unless an enrolment came
    after that visit (the household enrolled again: its new measures count)."""
    visits = _visit_entries(session, ids)
    enrolments = _enrolment_entries(session, cipher, ids)
    ledgers: dict[int, list[dict[str, Any]]] = {}
    for household_id in ids:
        visit, enrolment = visits.get(household_id), enrolments.get(household_id)
        newest = max((w for w in (visit, enrolment) if w is not None), key=lambda w: w[0],
                     default=None)  # fmt: skip
        if newest is not None and newest[1]:
            ledgers[household_id] = newest[1]
    return ledgers


def _chunks(ids: list[int], size: int = 2000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def late_measures(
    session: Session, cipher: FieldCipher, villages: set[str], today: date,
    calendar: WorkdayCalendar, policy: HelpersPolicy,
) -> list[LateMeasure]:  # fmt: skip
    """Open measures past their deadline in ``villages``, by village and name."""
    query = select(Household.id, Household.head_name, Household.village_code).where(
        col(Household.village_code).in_(villages),
        col(Household.category).not_in(_CLOSED_CATEGORIES),
    )
    households = {
        int(h or 0): (str(name), str(village)) for h, name, village in session.exec(query)
    }
    latest = _ledgers(session, cipher, sorted(households))
    late: list[LateMeasure] = []
    for household_id, (head_name, village) in households.items():
        for entry in latest.get(household_id, []):
            deadline = _deadline(entry.get("deadline"))
            if deadline is None or is_complete(entry):
                continue
            level = measure_level(deadline, today, calendar, policy)
            if level is not None:
                name = str(entry.get("measure") or "")
                late.append(LateMeasure(household_id, head_name, village, name, deadline, level))
    return sorted(late, key=lambda m: (m.village_code, m.head_name, m.deadline))


def ledger_of(session: Session, cipher: FieldCipher, household_id: int) -> list[dict[str, Any]]:
    """The household's measures as its next visit takes them up, one entry per measure
    ``{"measure", "progress", "deadline"}``: its latest visit's, or the enrolment's."""
    return ledger_entries(_ledgers(session, cipher, [household_id]).get(household_id, []))


def ledger_entries(raw: Any) -> list[dict[str, Any]]:
    """At most :data:`MAX_LEDGER` entries ``{"measure", "progress", "deadline"}``, bounded
    and of known keys only, from whatever list a visit or a dialog holds."""
    if not isinstance(raw, list):
        return []
    return [
        {
            "measure": str(entry.get("measure") or "")[:300],
            "progress": str(entry.get("progress") or "")[:40],
            "deadline": str(entry["deadline"])[:10] if entry.get("deadline") else None,
        }
        for entry in raw[:MAX_LEDGER]
        if isinstance(entry, dict)
    ]
