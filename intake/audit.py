"""The append-only audit log: every state change with its actor, time and reason.

Rows are only ever inserted; the migration adds triggers on both databases that refuse
UPDATE and DELETE, so not even a careless script can rewrite history.

Reasons and the free-text facts of :data:`SEALED_FACTS` can hold what a cadre learnt about
a family (a diagnosis, a debt), so they are written encrypted (see :func:`seal_facts`);
events from before migration 0004 keep them in plain text, since history is not rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, select

from intake.columns import json_column, utc_column, utcnow
from intake.crypto import FieldCipher

SYSTEM = "system"
#: Facts of procedure events that are cadres' free text about a household.
SEALED_FACTS = ("meeting_result", "reason_detail", "measures")


def contact_actor(contact_id: int | None) -> str:
    """The actor string of a villager acting through a channel."""
    return f"contact:{contact_id}" if contact_id is not None else "anonymous"


def user_actor(user_id: int) -> str:
    """The actor string of a logged-in cadre or operator."""
    return f"user:{user_id}"


class AuditEvent(SQLModel, table=True):
    """One recorded action. Never updated, never deleted."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=utc_column(index=True))
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    subject_kind: str = Field(max_length=32, index=True)
    subject_id: int = Field(index=True)
    #: Encrypted since migration 0004 (see :func:`reason_of`).
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_kind: str,
    subject_id: int,
    at: datetime | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the log inside the caller's transaction."""
    event = AuditEvent(
        at=at or utcnow(),
        actor=actor,
        action=action,
        subject_kind=subject_kind,
        subject_id=subject_id,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    return event


def events_for(session: Session, subject_kind: str, subject_id: int) -> list[AuditEvent]:
    """The timeline of one subject, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject_kind == subject_kind, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.at, AuditEvent.id)  # type: ignore[arg-type]
    )
    return list(session.exec(query))


def seal_facts(data: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    """``data`` with each of :data:`SEALED_FACTS` encrypted, for :func:`record`."""
    return {
        key: cipher.seal(str(value)) if key in SEALED_FACTS and value else value
        for key, value in data.items()
    }


def reason_of(event: AuditEvent, cipher: FieldCipher) -> str | None:
    """The event's reason in clear (older events hold it in plain text)."""
    return cipher.unseal(event.reason)


def facts_of(event: AuditEvent, cipher: FieldCipher) -> dict[str, Any]:
    """The event's data with :data:`SEALED_FACTS` in clear."""
    return {
        key: cipher.unseal(value) if key in SEALED_FACTS and isinstance(value, str) else value
        for key, value in (event.data or {}).items()
    }
