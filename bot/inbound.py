"""Inbound messages, stored before they are answered: durable and idempotent.

Each message is kept under ``(channel, external_id)``; storing it twice is impossible,
so a redelivered message is recognised and answered with the replies it got the first
time. The payload is encrypted (people type ID numbers); the replies are not personal
beyond what the person was shown, and ID numbers there are masked.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from intake.columns import json_column, utc_column, utcnow
from intake.crypto import FieldCipher
from intake.reports.anonymity import scrubbed_external_id

#: What the ``sequence`` column holds; a sequence outside it orders by arrival instead
#: (PostgreSQL would refuse the row, and the message with it).
SEQUENCE_MIN, SEQUENCE_MAX = -(2**31), 2**31 - 1


class InboundStatus(StrEnum):
    """Where a stored message is in its processing."""

    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundMessage(SQLModel, table=True):
    """One message or button press as it arrived."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbound_channel_ext"),
        Index("ix_inbound_sender_status", "channel", "sender", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    sender: str = Field(max_length=128)
    #: Orders one sender's messages (Telegram's update_id); falls back to arrival.
    #: A 32-bit INTEGER column (migration 0001): a number beyond it is not kept.
    sequence: int | None = None
    payload_cipher: str
    status: str = Field(default=InboundStatus.RECEIVED, max_length=16)
    replies: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    error: str | None = Field(default=None, max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    processed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


def store(
    session: Session,
    *,
    channel: str,
    external_id: str,
    sender: str,
    payload: dict[str, Any],
    cipher: FieldCipher,
    now: datetime,
    sequence: int | None = None,
) -> InboundMessage | None:
    """Keep a new message; ``None`` when it was stored before (a redelivery).

    The unique constraint still guards a race between two workers: the loser's commit
    raises ``IntegrityError``, which the caller treats as a redelivery. A message scrubbed
    after an anonymous report is known by its keyed hash.
    """
    known = (external_id, scrubbed_external_id(cipher, channel, external_id))
    seen = select(InboundMessage.id).where(
        InboundMessage.channel == channel, col(InboundMessage.external_id).in_(known)
    )
    if session.exec(seen).first() is not None:
        return None
    row = InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=sender,
        sequence=sequence if _fits(sequence) else None,
        payload_cipher=cipher.encrypt(json.dumps(payload, ensure_ascii=False)),
        received_at=now,
    )
    session.add(row)
    return row


def _fits(sequence: int | None) -> bool:
    return sequence is not None and SEQUENCE_MIN <= sequence <= SEQUENCE_MAX


def find(session: Session, channel: str, external_id: str) -> InboundMessage | None:
    """The stored message with this id."""
    query = select(InboundMessage).where(
        InboundMessage.channel == channel, InboundMessage.external_id == external_id
    )
    return session.exec(query).first()


def pending_for(session: Session, channel: str, sender: str) -> list[InboundMessage]:
    """One sender's unprocessed messages, in order."""
    query = (
        select(InboundMessage)
        .where(
            InboundMessage.channel == channel,
            InboundMessage.sender == sender,
            InboundMessage.status == InboundStatus.RECEIVED,
        )
        .order_by(col(InboundMessage.sequence), col(InboundMessage.id))
    )
    return list(session.exec(query))


def has_pending(session: Session, channel: str, sender: str) -> bool:
    """Whether ``sender`` has stored messages still waiting to be answered."""
    query = select(InboundMessage.id).where(
        InboundMessage.channel == channel,
        InboundMessage.sender == sender,
        InboundMessage.status == InboundStatus.RECEIVED,
    )
    return session.exec(query.limit(1)).first() is not None


def senders_with_pending(session: Session, limit: int = 100) -> list[tuple[str, str]]:
    """``(channel, sender)`` pairs that still have unprocessed messages (for recovery)."""
    query = (
        select(InboundMessage.channel, InboundMessage.sender)
        .where(InboundMessage.status == InboundStatus.RECEIVED)
        .distinct()
        .limit(limit)
    )
    return [(str(c), str(s)) for c, s in session.exec(query)]


def payload_of(row: InboundMessage, cipher: FieldCipher) -> dict[str, Any]:
    """The decrypted payload."""
    data = json.loads(cipher.decrypt(row.payload_cipher))
    return data if isinstance(data, dict) else {}
