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

    A matched household keeps its village and category (a cadre owns those); the latest
    head name, size and phone given by the family are taken.
    """
    household = find_household(session, cipher, id_number)
    created = household is None
    if household is None:
        household = Household(
            id_hash=cipher.lookup_hash(id_number),
            id_cipher=cipher.encrypt(id_number),
            head_name=head_name,
            village_code=village_code,
            created_at=now,
        )
        try:
            with session.begin_nested():  # a family member may be applying at this moment
                session.add(household)
        except IntegrityError:
            household = find_household(session, cipher, id_number)
            if household is None:
                raise
            created = False
    household.head_name = head_name
    if size is not None:
        household.size = size
    if phone is not None:
        household.phone_cipher = cipher.encrypt(phone)
    household.updated_at = now
    session.add(household)
    session.flush()
    return household, created
