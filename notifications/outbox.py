"""The outbox: messages written in the same transaction as the change that caused them.

A row is claimed by exactly one dispatcher (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
conditional UPDATE on SQLite), moved to ``sending`` and committed *before* the network
call. The guarantee is therefore **at most once**: if a process dies between sending and
marking, its rows stay ``sending`` until their lease ends and are then marked
``unknown`` for a person to look at, never sent again. Retries happen only after an
answer that proves nothing was delivered (429, 5xx, a refused connection).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Index, and_, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from intake.columns import json_column, utc_column, utcnow


class OutboxStatus(StrEnum):
    """The life of one outbound message."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    #: The recipient blocked us (Telegram 403): nothing more is sent to them.
    STOPPED = "stopped"
    #: The sender died mid-send: it may or may not have arrived; never retried.
    UNKNOWN = "unknown"


class Priority(IntEnum):
    """Lower goes first: a reply to someone typing beats a reminder."""

    INTERACTIVE = 0
    NOTICE = 5
    BULK = 10


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient on one channel."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    recipient: str = Field(max_length=128)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    priority: int = Field(default=Priority.INTERACTIVE)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    #: Makes enqueueing idempotent (e.g. one reminder per household per month).
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


def enqueue(
    session: Session,
    *,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    contact_id: int | None = None,
    priority: Priority = Priority.INTERACTIVE,
    not_before: datetime | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Add a message inside the caller's transaction; ``None`` if ``dedupe_key`` exists."""
    if dedupe_key is not None:
        exists = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
        if session.exec(exists).first() is not None:
            return None
    moment = now or utcnow()
    message = OutboxMessage(
        channel=channel,
        recipient=recipient,
        contact_id=contact_id,
        payload=payload,
        priority=int(priority),
        next_attempt_at=not_before or moment,
        dedupe_key=dedupe_key,
        created_at=moment,
    )
    session.add(message)
    return message


def claim(
    session: Session,
    *,
    worker: str,
    channel: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    use_skip_locked: bool,
) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for ``worker`` and mark them ``sending``.

    The caller commits right after, before any send: that commit is what makes a row
    belong to one worker only.
    """
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(
            col(OutboxMessage.priority), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)
        )
        .limit(limit)
    )
    if use_skip_locked:
        due = due.with_for_update(skip_locked=True)
    ids = list(session.exec(due))
    if not ids:
        return []
    # The status condition makes this safe on SQLite too, where FOR UPDATE is ignored.
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_by=worker, lease_until=now + lease)
    )
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
    )
    return list(session.exec(query))


def expire_leases(session: Session, *, now: datetime) -> int:
    """Rows left ``sending`` past their lease become ``unknown``; returns how many."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING,
            or_(
                col(OutboxMessage.lease_until).is_(None), and_(col(OutboxMessage.lease_until) < now)
            ),
        )
        .values(status=OutboxStatus.UNKNOWN, last_error="sender stopped mid-send; not retried")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pending_count(session: Session, channel: str | None = None) -> int:
    """How many messages wait to be sent."""
    query = select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.PENDING)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return len(list(session.exec(query)))
