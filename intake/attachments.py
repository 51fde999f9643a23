"""Attachments: photos, documents and voice notes villagers send with what they file.

The file itself stays with the channel (Telegram keeps it; we keep its ``file_id`` and
metadata, enough for a cadre to fetch it). An attachment belongs to its contact until they
file something: submitting an application or a call-back request links every unlinked
attachment of the contact to the new queue item, so the hospital bill lies beside the
application. A voice note is marked ``needs_listening``: many elderly villagers speak
rather than type, and a cadre must listen to what they said.

Captions are free text (people type ID numbers anywhere) and file names are chosen by the
sender (``身份证-王大山.jpg``), so both are stored encrypted; file names were plain text
before migration 0004 and such rows are still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select, update

from intake import audit
from intake.columns import utc_column, utcnow
from intake.crypto import FieldCipher
from intake.queue import QueueItem


class AttachmentKind(StrEnum):
    """What was sent."""

    PHOTO = "photo"
    DOCUMENT = "document"
    VOICE = "voice"


class Attachment(SQLModel, table=True):
    """One file a contact sent, linked to a queue item once they file something."""

    __tablename__ = "attachment"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_attachment_channel_ext"),
        Index("ix_attachment_contact_item", "contact_id", "queue_item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    #: The message that carried it (Telegram's update id): keeping it twice is impossible.
    external_id: str = Field(max_length=128)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    kind: str = Field(max_length=16)
    file_id: str = Field(max_length=256)
    file_unique_id: str | None = Field(default=None, max_length=128)
    file_name_cipher: str | None = None
    mime: str | None = Field(default=None, max_length=128)
    size: int | None = None
    duration_seconds: int | None = None
    caption_cipher: str | None = None
    needs_listening: bool = False
    queue_item_id: int | None = Field(default=None, foreign_key="queue_item.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    linked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


@dataclass(frozen=True)
class FileInfo:
    """A received file as a channel describes it (JSON-able for the inbound store)."""

    kind: AttachmentKind
    file_id: str
    file_unique_id: str | None = None
    file_name: str | None = None
    mime: str | None = None
    size: int | None = None
    duration_seconds: int | None = None
    caption: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored shape."""
        return {
            "kind": self.kind.value,
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime": self.mime,
            "size": self.size,
            "duration_seconds": self.duration_seconds,
            "caption": self.caption,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            kind=AttachmentKind(str(data["kind"])),
            file_id=str(data["file_id"]),
            file_unique_id=data.get("file_unique_id"),
            file_name=data.get("file_name"),
            mime=data.get("mime"),
            size=data.get("size"),
            duration_seconds=data.get("duration_seconds"),
            caption=data.get("caption"),
        )


def keep(
    session: Session,
    *,
    channel: str,
    external_id: str,
    contact_id: int | None,
    file: FileInfo,
    cipher: FieldCipher,
    now: datetime,
) -> Attachment | None:
    """Keep a received file for the contact; ``None`` when this message was kept before."""
    row = Attachment(
        channel=channel,
        external_id=external_id,
        contact_id=contact_id,
        kind=file.kind.value,
        file_id=file.file_id[:256],
        file_unique_id=(file.file_unique_id or "")[:128] or None,
        file_name_cipher=cipher.seal((file.file_name or "")[:255]),
        mime=(file.mime or "")[:128] or None,
        size=file.size,
        duration_seconds=file.duration_seconds,
        caption_cipher=cipher.encrypt(file.caption) if file.caption else None,
        needs_listening=file.kind is AttachmentKind.VOICE,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def link_to_latest_item(session: Session, *, contact_id: int | None, now: datetime) -> int:
    """Link the contact's unlinked attachments to their newest queue item; returns how many.

    Called in the transaction that filed the item, so the item and its files appear together.
    """
    if contact_id is None:
        return 0
    latest = select(QueueItem.id).where(QueueItem.contact_id == contact_id)
    item_id = session.exec(latest.order_by(col(QueueItem.id).desc())).first()
    waiting = unlinked(session, contact_id)
    if item_id is None or not waiting:
        return 0
    session.execute(
        update(Attachment)
        .where(col(Attachment.id).in_([a.id for a in waiting]))
        .values(queue_item_id=item_id, linked_at=now)
    )
    kinds = [a.kind for a in waiting]
    audit.record(
        session,
        actor=audit.contact_actor(contact_id),
        action="attachments.linked",
        subject_kind="queue_item",
        subject_id=item_id,
        at=now,
        data={kind.value: kinds.count(kind.value) for kind in AttachmentKind},
    )
    return len(waiting)


def unlinked(session: Session, contact_id: int) -> list[Attachment]:
    """The contact's attachments not yet linked to anything they filed."""
    query = select(Attachment).where(
        Attachment.contact_id == contact_id,
        col(Attachment.queue_item_id).is_(None),
        col(Attachment.linked_at).is_(None),  # nor filed with a visit (intake.helpers)
    )
    return list(session.exec(query.order_by(col(Attachment.id))))


def for_item(session: Session, queue_item_id: int) -> list[Attachment]:
    """The files filed with one queue item, in the order they were sent."""
    query = select(Attachment).where(Attachment.queue_item_id == queue_item_id)
    return list(session.exec(query.order_by(col(Attachment.id))))


def awaiting_listening(session: Session, limit: int = 100) -> list[Attachment]:
    """Voice notes no cadre has listened to yet, oldest first."""
    query = select(Attachment).where(col(Attachment.needs_listening).is_(True))
    return list(session.exec(query.order_by(col(Attachment.id)).limit(limit)))


def caption_of(attachment: Attachment, cipher: FieldCipher) -> str | None:
    """The decrypted caption, if any."""
    return cipher.decrypt(attachment.caption_cipher) if attachment.caption_cipher else None


def file_name_of(attachment: Attachment, cipher: FieldCipher) -> str | None:
    """The decrypted file name the sender gave, if any."""
    return cipher.unseal(attachment.file_name_cipher)
