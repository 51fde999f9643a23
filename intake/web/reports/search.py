"""The search box of the queue and of the hotline console: applications and reports by
tracking code, name, ID number or phone, always an exact match, always within the scope.

What is typed decides what is looked for:

* a tracking code (``ABCD-2345``, any spelling :func:`~intake.tracking.normalize_tracking_code`
  accepts): the item or the report with that code;
* an ID number (18 characters with a valid check digit): the applications of the
  household with that number and the named reports of that reporter, by the keyed hash;
* a phone number: the named reports with that call-back phone, by the keyed hash;
* anything else of 1 to 32 characters is a name: applications whose head has exactly that
  name, and reports about a household or cadre of exactly that name (keyed hash).

Never a ``LIKE`` over plain text: names, numbers and phones are matched whole, so a search
reveals nothing about people whose details the cadre did not already know. Applications are
filtered by :meth:`~intake.users.Scope.where`, reports by
:func:`~intake.reports.routing.visibility`: a village cadre cannot find a complaint about
their own committee, not even by its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import Session, col, select

from intake.applications import Application
from intake.crypto import FieldCipher
from intake.households import Household
from intake.identity import IdProblem, normalize_id_number, normalize_phone, validate_id_number
from intake.queue import QueueItem
from intake.reports.models import Report
from intake.reports.routing import visibility
from intake.tracking import normalize_tracking_code
from intake.users import Scope

__all__ = ["MAX_QUERY", "MAX_RESULTS", "Found", "SearchBy", "search"]

MAX_QUERY = 32
MAX_RESULTS = 50


class SearchBy(StrEnum):
    """What the typed text was read as."""

    CODE = "code"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    NAME = "name"


@dataclass(frozen=True)
class Found:
    """The items and reports a search found (empty lists when nothing or nothing valid)."""

    query: str
    by: SearchBy | None
    items: list[tuple[QueueItem, str | None]] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many things were found."""
        return len(self.items) + len(self.reports)


def _read(query: str) -> tuple[SearchBy, str] | None:
    """What ``query`` is, and its canonical form."""
    code = normalize_tracking_code(query)
    if code is not None:
        return SearchBy.CODE, code
    compact = normalize_id_number(query)
    if len(compact) == 18 and not isinstance(validate_id_number(compact), IdProblem):
        return SearchBy.ID_NUMBER, compact
    phone = normalize_phone(query)
    if phone is not None:
        return SearchBy.PHONE, phone
    if any(ch.isdigit() for ch in query):
        return None  # a number that is none of the above: not a name either
    return SearchBy.NAME, query


def search(session: Session, scope: Scope, cipher: FieldCipher, typed: str) -> Found:
    """Look ``typed`` up among the items and reports ``scope`` may see."""
    query = " ".join(typed.split())[: MAX_QUERY + 1]
    if not query or len(query) > MAX_QUERY:
        return Found(query, None)
    read = _read(query)
    if read is None:
        return Found(query, None)
    by, value = read
    items_base = (
        select(QueueItem, Application.head_name)
        .outerjoin(Application, col(Application.queue_item_id) == col(QueueItem.id))
        .where(scope.where())
    )
    reports_base = select(Report).where(visibility(scope).sql)
    # Exact matches are few: no ORDER BY in SQL, so the planner goes by the hash's own
    # index instead of walking the primary key backwards (sorted here instead).
    items: list[tuple[QueueItem, str | None]] = []
    reports: list[Report] = []
    if by is SearchBy.CODE:
        items = list(session.exec(items_base.where(QueueItem.tracking_code == value)))
        reports = list(session.exec(reports_base.where(Report.tracking_code == value)))
    elif by is SearchBy.ID_NUMBER:
        digest = cipher.lookup_hash(value)
        households = list(session.exec(select(Household.id).where(Household.id_hash == digest)))
        if households:
            items = list(
                session.exec(
                    items_base.where(col(Application.household_id).in_(households)).limit(
                        MAX_RESULTS
                    )
                )
            )
        reports = list(
            session.exec(reports_base.where(Report.reporter_id_hash == digest).limit(MAX_RESULTS))
        )
    elif by is SearchBy.PHONE:
        digest = cipher.lookup_hash(value)
        reports = list(
            session.exec(reports_base.where(Report.phone_hash == digest).limit(MAX_RESULTS))
        )
    else:
        items = list(
            session.exec(items_base.where(Application.head_name == value).limit(MAX_RESULTS))
        )
        digest = cipher.lookup_hash(value)
        reports = list(
            session.exec(reports_base.where(Report.subject_name_hash == digest).limit(MAX_RESULTS))
        )
    items.sort(key=lambda row: -(row[0].id or 0))
    reports.sort(key=lambda report: -(report.id or 0))
    return Found(query, by, [(item, name) for item, name in items], reports)
