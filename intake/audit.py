"""The append-only audit log: every state change with its actor, time and reason.

Rows are only ever inserted; the migration adds triggers on both databases that refuse
UPDATE and DELETE, so not even a careless script can rewrite history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, select

from intake.columns import json_column, utc_column, utcnow

SYSTEM = "system"


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
    reason: str | None = Field(default=None, max_length=2000)
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
