"""The outbox: messages written in the same transaction as the change that caused them.

The life of a row, and what each step promises:

``pending`` → ``claimed``
    A dispatcher takes a batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional
    UPDATE on SQLite, which ignores ``FOR UPDATE``) and commits. The row is now one
    worker's; nothing has been sent. If that worker dies, the lease runs out and
    :func:`expire_leases` puts the row back to ``pending``: it was never sent, so sending
    it later cannot double it.
``claimed`` → ``sending``
    :func:`mark_sending` commits, *then* the network call is made. The UPDATE names the
    worker and requires ``claimed``, so a worker that lost its claim sends nothing.
``sending`` → ``sent`` / ``failed`` / ``stopped`` / ``pending`` (retry) / ``unknown``
    The channel's answer decides. A retry happens only after an answer that proves
    nothing was delivered (a 429, a 5xx, a refused connection). A read timeout after the
    request went out proves nothing either way: the row becomes ``unknown``.
    If the worker dies mid-send, the lease runs out and the row becomes ``unknown`` too.

So the guarantee is **at most once**: a row is never sent twice, whatever crashes or times
out; a row that may have been lost is marked ``unknown`` (never silently dropped) for a
person to look at. Only rows caught mid-send can end there - at most the few sends in
flight when a worker dies, never the ones it had merely claimed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Index, and_, func, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from intake.columns import json_column, utc_column, utcnow
from intake.contacts import Contact


class OutboxStatus(StrEnum):
    """The life of one outbound message."""

    PENDING = "pending"
    #: Taken by one dispatcher, not sent yet (back to pending if the dispatcher dies).
    CLAIMED = "claimed"
    #: The network call is being made.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    #: The recipient blocked us (Telegram 403): nothing more is sent to them.
    STOPPED = "stopped"
    #: It may or may not have arrived (a timeout or a crash mid-send); never retried.
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
    """Take up to ``limit`` due messages for ``worker``, most urgent first, as ``claimed``.

    Rows for a contact who blocked the channel are marked ``stopped`` instead. The caller
    commits right after, before any send: that commit makes a row one worker's.
    """
    due = (
        select(OutboxMessage.id, col(Contact.stopped_at))
        .outerjoin(Contact, col(Contact.id) == col(OutboxMessage.contact_id))
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(
            col(OutboxMessage.priority), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)
        )
        .limit(limit)
    )
    if use_skip_locked:
        due = due.with_for_update(skip_locked=True, of=OutboxMessage)
    found = [(int(row_id), stopped) for row_id, stopped in session.exec(due) if row_id]
    ids = [row_id for row_id, stopped in found if stopped is None]
    blocked = [row_id for row_id, stopped in found if stopped is not None]
    if blocked:
        _set(
            session,
            blocked,
            OutboxStatus.PENDING,
            status=OutboxStatus.STOPPED,
            last_error="recipient had stopped the channel",
        )
    if not ids:
        return []
    # The status condition makes this safe on SQLite too, where FOR UPDATE is ignored.
    claimed = {"status": OutboxStatus.CLAIMED, "claimed_by": worker, "lease_until": now + lease}
    _set(session, ids, OutboxStatus.PENDING, **claimed)
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
        )
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
    )
    return list(session.exec(query))


def mark_sending(
    session: Session, *, row_id: int | None, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Move one of ``worker``'s claimed rows to ``sending``; ``False`` if it is not theirs.

    Commit before the network call: from then on the row is never sent again.
    """
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == row_id,
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
        )
        .values(status=OutboxStatus.SENDING, lease_until=now + lease)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def release(session: Session, *, ids: list[int], worker: str) -> int:
    """Give ``worker``'s claimed (unsent) rows back to ``pending``; returns how many."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
        )
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def hold_recipient(
    session: Session,
    *,
    channel: str,
    recipient: str,
    after_id: int | None,
    until: datetime,
    worker: str,
) -> None:
    """Keep a recipient's later rows behind one that must be retried (their order holds)."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.recipient) == recipient,
            col(OutboxMessage.id) > (after_id or 0),
            or_(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                and_(
                    col(OutboxMessage.status) == OutboxStatus.CLAIMED,
                    col(OutboxMessage.claimed_by) == worker,
                ),
            ),
        )
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.recipient) == recipient,
            col(OutboxMessage.id) > (after_id or 0),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) < until,
        )
        .values(next_attempt_at=until)
    )


def stop_recipient(
    session: Session, *, channel: str, recipient: str, now: datetime, reason: str
) -> int:
    """The recipient blocked us: mark their contact stopped and drop their waiting rows.

    Returns how many waiting rows were stopped. A claimed row of another worker is
    stopped too; that worker's :func:`mark_sending` then fails and it sends nothing.
    """
    session.execute(
        update(Contact)
        .where(
            col(Contact.channel) == channel,
            col(Contact.external_id) == recipient,
            col(Contact.stopped_at).is_(None),
        )
        .values(stopped_at=now)
    )
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.recipient) == recipient,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.CLAIMED]),
        )
        .values(status=OutboxStatus.STOPPED, last_error=reason[:500], lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def expire_leases(session: Session, *, now: datetime) -> int:
    """Rows whose worker vanished: ``claimed`` back to ``pending``, ``sending`` to ``unknown``.

    Returns how many rows changed.
    """
    expired = or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)
    unsent = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.CLAIMED, expired)
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    lost = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING, expired)
        .values(status=OutboxStatus.UNKNOWN, last_error="sender stopped mid-send; not retried")
    )
    return int(unsent.rowcount or 0) + int(lost.rowcount or 0)  # type: ignore[attr-defined]


def pending_count(session: Session, channel: str | None = None) -> int:
    """How many messages wait to be sent."""
    query = select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return int(session.exec(query).one())


#: What a person may look at and decide on: never resent by the dispatcher on its own.
TROUBLED = (OutboxStatus.UNKNOWN, OutboxStatus.FAILED, OutboxStatus.STOPPED)


def troubled(
    session: Session, statuses: tuple[OutboxStatus, ...] = TROUBLED, limit: int = 100
) -> list[OutboxMessage]:
    """The newest rows in ``statuses`` (by default: perhaps lost, failed, or blocked)."""
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.status).in_(statuses))
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


class ResendError(ValueError):
    """The row cannot be sent again (unknown id, or not unknown/failed)."""


def resend(session: Session, row_id: int, *, now: datetime) -> OutboxMessage:
    """Queue a copy of an ``unknown`` or ``failed`` row: a person decided it did not arrive.

    The original keeps its status (the record of what happened) and names its copy.
    A ``stopped`` recipient is not written to again this way: they blocked the bot.
    """
    original = session.get(OutboxMessage, row_id)
    if original is None:
        raise ResendError(f"no outbox row {row_id}")
    if original.status not in (OutboxStatus.UNKNOWN, OutboxStatus.FAILED):
        raise ResendError(f"row {row_id} is {original.status}; only unknown or failed rows")
    payload = {k: v for k, v in original.payload.items() if k != "parts_sent"}
    copy = OutboxMessage(
        channel=original.channel,
        recipient=original.recipient,
        contact_id=original.contact_id,
        priority=original.priority,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(copy)
    session.flush()
    note = f"resent as #{copy.id}"
    original.last_error = f"{original.last_error or ''}; {note}"[-500:].lstrip("; ")
    session.add(original)
    return copy


def _set(session: Session, ids: list[int], current: OutboxStatus, **values: Any) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.status) == current)
        .values(**values)
    )
