"""Households (户), the unit of monitoring, found again by the keyed hash of the head's ID."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from intake.columns import utc_column, utcnow
from intake.crypto import FieldCipher


class Household(SQLModel, table=True):
    """A household as the roster knows it. The ID number is only stored encrypted."""

    __tablename__ = "household"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True)
    id_cipher: str = Field(max_length=512)
    head_name: str = Field(max_length=64)
    village_code: str = Field(max_length=64, index=True)
    size: int | None = None
    phone_cipher: str | None = Field(default=None, max_length=512)
    #: 一般农户 until a cadre records otherwise (脱贫户 with a year, 监测户 …).
    category: str = Field(default="general", max_length=32)
    poverty_exit_year: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


def find_household(session: Session, cipher: FieldCipher, id_number: str) -> Household | None:
    """The household whose head has ``id_number`` (normalized), if registered."""
    query = select(Household).where(Household.id_hash == cipher.lookup_hash(id_number))
    return session.exec(query).first()


def upsert_household(
    session: Session,
    cipher: FieldCipher,
    *,
    id_number: str,
    head_name: str,
    village_code: str,
    size: int | None,
    phone: str | None,
    now: datetime,
) -> tuple[Household, bool]:
    """Match the household by ID hash or create it; returns it and whether it is new.

    A new household takes the filing's name, size and phone. A matched one keeps all of
    its own: anyone can type a known ID number, so a filing's details stay with the
    filing (``Application``) until a cadre of the household's own village accepts them
    (:func:`accept_details`). Otherwise an impostor's phone and name would replace the
    family's in the cadre's reveal and in the roster.
    """
    household = find_household(session, cipher, id_number)
    if household is not None:
        return household, False
    household = Household(
        id_hash=cipher.lookup_hash(id_number),
        id_cipher=cipher.encrypt(id_number),
        head_name=head_name,
        village_code=village_code,
        size=size,
        phone_cipher=cipher.seal(phone),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a family member may be applying at this moment
            session.add(household)
    except IntegrityError:
        found = find_household(session, cipher, id_number)
        if found is None:
            raise
        return found, False
    session.flush()
    return household, True


def accept_details(
    household: Household,
    cipher: FieldCipher,
    *,
    head_name: str | None,
    phone: str | None,
    size: int | None,
    now: datetime,
) -> list[str]:
    """Take a filing's name, phone and size as the household's; returns what changed.

    Only a cadre of the household's own scope calls this, after seeing the differences
    on the item page; the caller records it in the audit log.
    """
    changed: list[str] = []
    if head_name and head_name != household.head_name:
        household.head_name = head_name
        changed.append("head_name")
    if phone and phone != cipher.unseal(household.phone_cipher):
        household.phone_cipher = cipher.encrypt(phone)
        changed.append("phone")
    if size is not None and size != household.size:
        household.size = size
        changed.append("size")
    if changed:
        household.updated_at = now
    return changed
