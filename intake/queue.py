"""The intake queue: every application, report and call-back request is one work item.

A queue item is what cadres triage: its kind, where it belongs (village, township), its
procedure status, its next deadline and whether it is fast-tracked. The content lives in
the subject's own table (``Application``, ``CallbackRequest``…), pointing back here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Computed, Index, Integer
from sqlmodel import Field, Session, SQLModel, select

from intake.columns import utc_column, utcnow


class ItemKind(StrEnum):
    """What a queue item is."""

    APPLICATION = "application"
    CALLBACK = "callback"
    #: The 1-year review of an enrolled household, and the exit after the follow-up year.
    REVIEW = "review"
    EXIT = "exit"


class ItemStatus(StrEnum):
    """Where an item stands. Applications walk the procedure of seeds 000 and 001."""

    SUBMITTED = "submitted"
    VILLAGE_REVIEW = "village_review"
    TOWNSHIP_REVIEW = "township_review"
    PUBLIC_NOTICE = "public_notice"
    COUNTY_CONFIRM = "county_confirm"
    ENROLLED = "enrolled"
    NOT_ENROLLED = "not_enrolled"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"
    #: A call-back request waiting for a cadre's call, and once the call is made.
    OPEN = "open"
    DONE = "done"


CLOSED_STATUSES = frozenset(
    {
        ItemStatus.ENROLLED,
        ItemStatus.NOT_ENROLLED,
        ItemStatus.WITHDRAWN,
        ItemStatus.MERGED,
        ItemStatus.DONE,
    }
)


SORT_RANK_SQL = (
    "(CASE WHEN fast_track THEN 0 ELSE 2 END) + (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END)"
)


class QueueItem(SQLModel, table=True):
    """One piece of work for the cadres of a village (or the township, for complaints)."""

    __tablename__ = "queue_item"
    __table_args__ = (
        Index("ix_queue_scope_status_due", "township_code", "village_code", "status", "due_at"),
        # The cadre queue's scoped, deadline-sorted pages and status counts (migration 0003).
        Index("ix_queue_village_order", "village_code", "sort_rank", "due_at", "id"),
        Index("ix_queue_township_order", "township_code", "sort_rank", "due_at", "id"),
        Index("ix_queue_region_order", "region_code", "sort_rank", "due_at", "id"),
        Index("ix_queue_village_status", "village_code", "status"),
        Index("ix_queue_township_status", "township_code", "status"),
        Index("ix_queue_region_status", "region_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=32, index=True)
    tracking_code: str = Field(max_length=16, unique=True)
    region_code: str = Field(max_length=64)
    township_code: str = Field(max_length=64)
    #: ``None`` when the item goes to the township itself (e.g. a complaint about a cadre).
    village_code: str | None = Field(default=None, max_length=64)
    fast_track: bool = False
    due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    #: Risk-type codes for the queue's filter, as ``",01,08,"``: the assessment's suggestion
    #: until the county confirms the enrolment's own (see ``intake.procedure``). Migration 0003.
    risk_codes: str | None = Field(default=None, max_length=128)
    #: The item this one was merged into as a duplicate (status ``merged``). Migration 0003.
    merged_into_id: int | None = Field(default=None, foreign_key="queue_item.id")
    #: The queue's order, computed by the database so an index can serve it: fast track
    #: first, then items with a deadline before those without (0..3). Migration 0003.
    sort_rank: int | None = Field(
        default=None, sa_column=Column(Integer, Computed(SORT_RANK_SQL), nullable=True)
    )


def find_by_tracking_code(session: Session, code: str) -> QueueItem | None:
    """The item a tracking code (canonical form) names."""
    return session.exec(select(QueueItem).where(QueueItem.tracking_code == code)).first()


def tracking_code_taken(session: Session, code: str) -> bool:
    """Whether ``code`` already names an item."""
    return find_by_tracking_code(session, code) is not None


def allocate_tracking_code(
    session: Session, new_code: Callable[[], str], attempts: int = 20
) -> str:
    """A fresh tracking code no item uses yet (the space is large; retries are rare)."""
    for _ in range(attempts):
        code = new_code()
        if not tracking_code_taken(session, code):
            return code
    raise RuntimeError("could not find a free tracking code")
