"""The outbox: messages written in the same transaction as the change that caused them.

The life of a row, and what each step promises (who holds a row and when it may go is
:mod:`notifications.claims`):

``pending`` → ``claimed``
    A dispatcher takes a batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional
    UPDATE on SQLite, which ignores ``FOR UPDATE``) and commits. The row is now one
    worker's; nothing has been sent. If that worker dies, the row goes back to
    ``pending`` - at once when a dispatcher starts, else when its lease lapses: it was
    never sent, so sending it later cannot double it.
``claimed`` → ``sending``
    ``mark_sending`` commits, *then* the network call is made. The UPDATE names the
    worker, requires ``claimed`` and requires the recipient's earlier rows to be settled,
    so a worker that lost its claim sends nothing and one chat's rows keep their order.
``sending`` → ``sent`` / ``failed`` / ``stopped`` / ``pending`` (retry) / ``unknown``
    The channel's answer decides. A retry happens after an answer that proves nothing was
    delivered (a 429, a 5xx, a refused connection). A read timeout after the request went
    out, or a worker dying mid-send, proves nothing either way; then the kind decides.

Two delivery rules, by kind (:data:`AT_LEAST_ONCE`):

- **Notices and reminders: at most once.** A row that may have been lost becomes
  ``unknown`` (never silently dropped) for a person to look at; it is never sent twice.
- **Replies to a villager's own message (``INTERACTIVE``): at least once.** A reply that
  may have been lost is sent again, up to the retry cap: a question seen twice is far
  better than a conversation that silently stops.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Index, and_, func, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from intake.columns import json_column, utc_column, utcnow
from intake.contacts import Contact
from intake.workdays import SHANGHAI
from notifications.sealing import seal_payload, sealer_of


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
    #: It may or may not have arrived (a timeout or a crash mid-send) and is not sent
    #: again: a notice at once, a reply once its retries are used up.
    UNKNOWN = "unknown"


#: Rows a worker holds: no other worker sends to their recipient meanwhile.
HELD = (OutboxStatus.CLAIMED, OutboxStatus.SENDING)


class Priority(IntEnum):
    """Lower goes first: a reply to someone typing beats a reminder."""

    INTERACTIVE = 0
    NOTICE = 5
    BULK = 10


#: Bookkeeping beside a payload: once the row is settled, its payload is blanked to this
#: key alone (replies to an anonymous reporter: see :func:`forget_once_settled`).
FORGET = "forget"
#: What a blanked row's recipient becomes.
FORGOTTEN_RECIPIENT = "scrubbed"
#: Where a row ends; a row marked :data:`FORGET` keeps no payload past it.
SETTLED = frozenset(
    {OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.STOPPED, OutboxStatus.UNKNOWN}
)

#: Kinds sent again when they may have been lost (a reply the villager waits for); every
#: other kind is sent at most once (see the module docstring).
AT_LEAST_ONCE = frozenset({Priority.INTERACTIVE})


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient on one channel."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "next_attempt_at", "id"),
        #: One recipient's rows in order: the per-chat order checks of claims and sends.
        Index("ix_outbox_recipient", "channel", "recipient", "id"),
    )

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
    claimed: tuple[str, datetime] | None = None,
) -> OutboxMessage | None:
    """Add a message inside the caller's transaction; ``None`` if ``dedupe_key`` exists.

    ``claimed`` (worker, lease end) writes it already claimed by that worker: only for a
    row handed straight to the worker's loop (:mod:`notifications.handoff`).
    """
    if dedupe_key is not None:
        exists = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
        if session.exec(exists).first() is not None:
            return None
    moment = now or utcnow()
    message = OutboxMessage(
        channel=channel,
        recipient=recipient,
        contact_id=contact_id,
        payload=seal_payload(payload, sealer_of(session)),
        priority=int(priority),
        next_attempt_at=not_before or moment,
        dedupe_key=dedupe_key,
        created_at=moment,
    )
    if claimed is not None:
        message.status, message.claimed_by, message.lease_until = OutboxStatus.CLAIMED, *claimed
    session.add(message)
    return message


def forget_once_settled(session: Session, *, channel: str, recipient: str, since: datetime) -> int:
    """Mark ``recipient``'s rows written since ``since`` to be blanked once settled.

    The replies of an anonymous report's dialog carry the tracking code to the chat: the
    row may keep it only until it is sent (or given up). Rows already settled are blanked
    now. Returns how many rows were marked.
    """
    query = select(OutboxMessage).where(
        OutboxMessage.channel == channel,
        OutboxMessage.recipient == recipient,
        col(OutboxMessage.created_at) >= since,
    )
    count = 0
    for row in session.exec(query):
        if row.status in SETTLED:
            _apply(row, _blank(row, row.sent_at))
        else:
            row.payload = {**row.payload, FORGET: True}
        session.add(row)
        count += 1
    return count


def _day(moment: datetime) -> datetime:
    """The start of ``moment``'s Beijing day, so a row cannot be matched by the minute."""
    local = moment.astimezone(SHANGHAI).date()
    return datetime.combine(local, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def _blank(row: OutboxMessage, sent_at: datetime | None) -> dict[str, Any]:
    """What a marked row keeps once settled: its status and its day, nothing of the chat
    (no payload, recipient, contact or error text) and no time of day."""
    day = _day(row.created_at)
    return {
        "payload": {FORGET: True},
        "recipient": FORGOTTEN_RECIPIENT,
        "contact_id": None,
        "last_error": None,
        "created_at": day,
        "next_attempt_at": day,
        "sent_at": _day(sent_at) if sent_at is not None else None,
    }


def _apply(row: OutboxMessage, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


def forgotten(row: OutboxMessage, values: dict[str, Any]) -> dict[str, Any]:
    """Extra values for the UPDATE settling ``row`` with ``values``: the blanking of a
    marked row (see :func:`blank_if_marked` for one marked while it was being sent)."""
    if row.payload.get(FORGET) and values["status"] in SETTLED:
        return _blank(row, values.get("sent_at"))
    return {}


def is_marked(session: Session, row_id: int | None) -> bool:
    """Whether the stored row was marked by :func:`forget_once_settled` (the sender's copy
    may predate the mark)."""
    row = session.get(OutboxMessage, row_id) if row_id is not None else None
    return row is not None and bool(row.payload.get(FORGET))


def blank_if_marked(session: Session, row_id: int | None) -> None:
    """Blank a settled row that was marked while it was being sent.

    The sender holds the row as it was read before :func:`forget_once_settled` marked it
    (the chat's next message, answered meanwhile), so settling it checks the stored row.
    """
    row = session.get(OutboxMessage, row_id) if row_id is not None else None
    if row is None or row.recipient == FORGOTTEN_RECIPIENT:
        return
    if row.payload.get(FORGET) and row.status in SETTLED:
        _apply(row, _blank(row, row.sent_at))
        session.add(row)


def blank_marked(session: Session, row_ids: list[int | None]) -> None:
    """:func:`blank_if_marked` for rows just settled together: one query finds the marked
    ones (their mark sits beside the sealed payload)."""
    ids = [row_id for row_id in row_ids if row_id is not None]
    if not ids:
        return
    stored = session.exec(
        select(OutboxMessage.id, OutboxMessage.payload).where(col(OutboxMessage.id).in_(ids))
    )
    for row_id, payload in list(stored):
        if isinstance(payload, dict) and payload.get(FORGET):
            blank_if_marked(session, row_id)


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
    if original.payload.get(FORGET):
        raise ResendError(f"row {row_id} was blanked (a reply to an anonymous reporter)")
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
