"""The tables of the helper's month.

- :class:`Helper` — a person (帮扶责任人 / 包抓干部), not a string: phone encrypted and found
  again by its keyed hash, a work unit (驻村单位), a place scope and a state.
- :class:`HelperAssignment` — household ↔ helper. At most one current row per household
  (a partial unique index on ``ended_at IS NULL``, on both databases); a change ends the
  current row and starts another, so the history stays, and is written to the audit log.
- :class:`HelperLink` — a one-time code that joins a helper's chat; only its keyed hash
  is stored, so a database dump gives no usable code.
- :class:`Visit` — one visit record for one household and month (``YYYY-MM``).
- :class:`HelpReview` — the queue item of a household's 1-year review or exit, with the
  outcome each level proposed (migration 0009).
- :class:`RosterEntry` — what the roster (花名册) says of a monitored household beyond the
  household row: risk types and the detailed reason (encrypted: it often names an illness).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from intake.columns import json_column, utc_column, utcnow

__all__ = [
    "HelpReview",
    "Helper",
    "HelperAssignment",
    "HelperLink",
    "HelperState",
    "NotVisitedReason",
    "RosterEntry",
    "UserLink",
    "Visit",
    "VisitAttachment",
    "VisitMode",
]


class HelperState(StrEnum):
    """Whether a helper still helps (a helper who left keeps their history)."""

    ACTIVE = "active"
    LEFT = "left"


class VisitMode(StrEnum):
    """How a month's visit happened, or that it could not."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    NOT_VISITED = "not_visited"


class NotVisitedReason(StrEnum):
    """Why a visit could not be made: a valid record too, not a failure of the helper."""

    AWAY_FOR_WORK = "away_for_work"
    IN_HOSPITAL = "in_hospital"
    REFUSED = "refused"
    OTHER = "other"


class Helper(SQLModel, table=True):
    """A person who helps households; never found by name alone (names repeat)."""

    __tablename__ = "helper"
    #: Every message asks whether its chat is a helper's (the 记录走访 entry).
    __table_args__ = (Index("ix_helper_chat", "chat_channel", "chat_external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    phone_cipher: str | None = Field(default=None, max_length=512)
    #: Keyed hash of the normalized phone: the roster finds a helper again by it.
    phone_hash: str | None = Field(default=None, max_length=64, unique=True)
    work_unit: str | None = Field(default=None, max_length=128)
    region_code: str = Field(max_length=64, index=True)
    township_code: str = Field(max_length=64, index=True)
    #: None: the helper serves the whole township.
    village_code: str | None = Field(default=None, max_length=64)
    state: str = Field(default=HelperState.ACTIVE, max_length=16)
    #: The verified chat (set only by redeeming a link code).
    chat_channel: str | None = Field(default=None, max_length=32)
    chat_external_id: str | None = Field(default=None, max_length=128)
    linked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class HelperAssignment(SQLModel, table=True):
    """One period of one helper helping one household."""

    __tablename__ = "helper_assignment"
    __table_args__ = (
        Index(
            "uq_helper_assignment_current",
            "household_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_helper_assignment_helper", "helper_id", "ended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    helper_id: int = Field(foreign_key="helper.id")
    started_at: datetime = Field(sa_column=utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    actor: str = Field(max_length=64)


class HelperLink(SQLModel, table=True):
    """A one-time link code: single use, an expiry, stored as a keyed hash."""

    __tablename__ = "helper_link"

    id: int | None = Field(default=None, primary_key=True)
    helper_id: int = Field(foreign_key="helper.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    used_channel: str | None = Field(default=None, max_length=32)


class UserLink(SQLModel, table=True):
    """The same one-time code for a cadre's account: their chat then gets the daily digest
    (it replaces linking a chat id typed by an administrator, which nobody verified)."""

    __tablename__ = "user_link"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="cadre_user.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    used_channel: str | None = Field(default=None, max_length=32)


class Visit(SQLModel, table=True):
    """A visit (走访) of one household in one month, or a recorded failure to visit."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_household_period", "household_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    helper_id: int | None = Field(default=None, foreign_key="helper.id", index=True)
    #: ``YYYY-MM``: the month the visit counts for.
    period: str = Field(max_length=7, index=True)
    visited_on: date
    mode: str = Field(max_length=16)
    #: A :class:`NotVisitedReason` when ``mode`` is ``not_visited``.
    not_visited_reason: str | None = Field(default=None, max_length=32)
    #: ``{"wages": 1200, "farm_business": 0, ...}`` in yuan, or ``{"about_the_same": true}``.
    income: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    #: 两不愁三保障 and safe water: ``{"food": true, "clothing": true, ..., "water": true}``.
    checks: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    #: Problems found, encrypted (they name illnesses and debts).
    problems_cipher: str | None = None
    #: ``[{"measure": "...", "progress": "...", "deadline": "YYYY-MM-DD"}]``.
    measures: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_column())
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class VisitAttachment(SQLModel, table=True):
    """A photo or voice note the helper sent while logging the visit (migration 0012).

    The file itself is an :class:`~intake.attachments.Attachment`, kept by its channel.
    """

    __tablename__ = "visit_attachment"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    attachment_id: int = Field(foreign_key="attachment.id", unique=True)


class RosterEntry(SQLModel, table=True):
    """The roster's risk types and detailed reason for one monitored household."""

    __tablename__ = "roster_entry"
    __table_args__ = (UniqueConstraint("household_id", name="uq_roster_entry_household"),)

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    #: Comma-separated risk-type codes of the policy (``"01,05"``).
    risk_codes: str = Field(max_length=64)
    reason_cipher: str | None = None
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    #: When a roster first listed the household (migration 0012): its year of help counts
    #: from here when no enrolment here says when it began.
    listed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class HelpReview(SQLModel, table=True):
    """The queue item that reviews a year of help (``review``) or the follow-up year
    (``exit``) of one household. One per household, kind and year started: the daily job
    that opens them may run in two processes at once and still open one."""

    __tablename__ = "help_review"
    __table_args__ = (
        UniqueConstraint("household_id", "kind", "period_start", name="uq_help_review_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_item.id", unique=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    #: ``review`` (after a year of help) or ``exit`` (after the follow-up year).
    kind: str = Field(max_length=16)
    #: The day the year under review began (enrolment, or the last decision).
    period_start: date
    opened_at: datetime = Field(sa_column=utc_column())
    #: What the village proposed, the township found and the county decided.
    proposed: str | None = Field(default=None, max_length=32)
    checked: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
