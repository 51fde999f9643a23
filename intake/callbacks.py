"""Call-back requests (人工): a villager asks a cadre to phone them.

The note is free text, and villagers type ID and phone numbers into it: it is stored
encrypted like the phone (rows from before migration 0004 hold it plain; see
:meth:`~intake.crypto.FieldCipher.unseal`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Field, Session, SQLModel

from intake import audit
from intake.columns import utc_column, utcnow
from intake.crypto import FieldCipher
from intake.policy import Policy
from intake.queue import ItemKind, ItemStatus, QueueItem, allocate_tracking_code


class CallbackRequest(SQLModel, table=True):
    """A request to be called back, with where in the conversation it was made."""

    __tablename__ = "callback_request"

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_item.id", unique=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    phone_cipher: str = Field(max_length=512)
    note_cipher: str | None = None
    context: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


def request_callback(
    session: Session,
    *,
    contact_id: int | None,
    phone: str,
    note: str | None,
    context: str | None,
    village_code: str | None,
    policy: Policy,
    cipher: FieldCipher,
    new_code: Callable[[], str],
    now: datetime,
) -> QueueItem:
    """Open a call-back item for the village (or the township when the village is unknown)."""
    township = policy.township_of(village_code) if village_code else None
    if township is None:
        township = policy.townships[0]
        village_code = None
    item = QueueItem(
        kind=ItemKind.CALLBACK,
        status=ItemStatus.OPEN,
        tracking_code=allocate_tracking_code(session, new_code),
        region_code=policy.region.code,
        township_code=township.code,
        village_code=village_code,
        contact_id=contact_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    session.add(
        CallbackRequest(
            queue_item_id=item.id,
            contact_id=contact_id,
            phone_cipher=cipher.encrypt(phone),
            note_cipher=cipher.seal(note),
            context=context,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=audit.contact_actor(contact_id),
        action="callback.requested",
        subject_kind="queue_item",
        subject_id=item.id,
        at=now,
        data={"context": context},
    )
    return item


def note_of(request: CallbackRequest, cipher: FieldCipher) -> str | None:
    """The decrypted note, if any."""
    return cipher.unseal(request.note_cipher)
