"""Dialog sessions at rest: one encrypted JSON row per contact, with an expiry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import Field, Session, SQLModel, col, delete

from bot.engine import Session as DialogState
from intake.columns import utc_column
from intake.crypto import FieldCipher

_LOADED = "dialog_rows_loaded"


class DialogSession(SQLModel, table=True):
    """Where a contact stands in a conversation (encrypted: answers hold ID numbers)."""

    __tablename__ = "dialog_session"

    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    data: str
    updated_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column(index=True))


def load_state(session: Session, contact_id: int, cipher: FieldCipher) -> DialogState | None:
    """The contact's dialog state, or ``None`` on first contact."""
    row = session.get(DialogSession, contact_id)
    if row is None:
        return None
    # The identity map holds clean rows weakly: keep this one for save_state in the same
    # transaction, or it is loaded a second time.
    session.info.setdefault(_LOADED, {})[contact_id] = row
    return DialogState.from_json(json.loads(cipher.decrypt(row.data)))


def save_state(
    session: Session,
    contact_id: int,
    state: DialogState,
    cipher: FieldCipher,
    *,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Store the state; it is kept a while past its expiry so we can say it expired."""
    data = cipher.encrypt(json.dumps(state.to_json(), ensure_ascii=False))
    row = session.info.get(_LOADED, {}).pop(contact_id, None) or session.get(
        DialogSession, contact_id
    )
    if row is None:
        row = DialogSession(contact_id=contact_id, data=data, updated_at=now, expires_at=now + ttl)
    row.data, row.updated_at, row.expires_at = data, now, now + ttl
    session.add(row)


def purge_expired(session: Session, *, now: datetime, grace: timedelta) -> int:
    """Delete sessions expired for longer than ``grace``; returns how many."""
    result = session.execute(
        delete(DialogSession).where(col(DialogSession.expires_at) < now - grace)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
