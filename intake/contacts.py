"""Contacts: a person as one channel knows them (a Telegram chat, a web-chat user id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from intake.columns import utc_column, utcnow


class Contact(SQLModel, table=True):
    """One person on one channel. Holds no ID number; a phone only encrypted."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_contact_channel_ext"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    language: str = Field(default="zh_CN", max_length=16)
    village_code: str | None = Field(default=None, max_length=64)
    stopped_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


def find_contact(session: Session, channel: str, external_id: str) -> Contact | None:
    """The contact of ``external_id`` on ``channel``, if we have met them."""
    query = select(Contact).where(Contact.channel == channel, Contact.external_id == external_id)
    return session.exec(query).first()


def get_or_create_contact(
    session: Session, channel: str, external_id: str, *, language: str
) -> Contact:
    """Find the contact, creating it on first contact (safe against a concurrent twin)."""
    found = find_contact(session, channel, external_id)
    if found is not None:
        return found
    contact = Contact(channel=channel, external_id=external_id, language=language)
    try:
        with session.begin_nested():
            session.add(contact)
    except IntegrityError:
        found = find_contact(session, channel, external_id)
        if found is None:
            raise
        return found
    return contact
