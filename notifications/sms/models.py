"""The SMS channel's tables: the daily count per phone, opt-outs, and delivery receipts.

No table holds a phone number: each keys on the keyed hash of the number
(:meth:`intake.crypto.FieldCipher.lookup_hash` of its canonical form), which finds a row
for a number we are given and tells nothing to someone who reads the table.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, UniqueConstraint
from sqlmodel import Field, SQLModel

from intake.columns import utc_column, utcnow


class SmsDailyCount(SQLModel, table=True):
    """How many SMS one phone was sent on one Beijing day (the daily cap counts here)."""

    __tablename__ = "sms_daily_count"
    __table_args__ = (UniqueConstraint("phone_hash", "day", name="uq_sms_daily_count"),)

    id: int | None = Field(default=None, primary_key=True)
    phone_hash: str = Field(max_length=64)
    day: date = Field(sa_column=Column(Date(), nullable=False))
    sent: int = 0


class SmsOptOut(SQLModel, table=True):
    """A phone's answer to "回复TD退订": opted out, or back in after a later "订阅"."""

    __tablename__ = "sms_opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone_hash: str = Field(max_length=64, unique=True)
    opted_out: bool = True
    #: The reply that decided it (``TD``, ``退订``, ``订阅``...), normalised.
    keyword: str = Field(max_length=32)
    #: When the person sent that reply (the provider's ``send_time``); older replies lose.
    replied_at: datetime = Field(sa_column=utc_column())
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class SmsReceipt(SQLModel, table=True):
    """One SMS the provider accepted (its ``BizId``) and what the carrier reported later."""

    __tablename__ = "sms_receipt"

    id: int | None = Field(default=None, primary_key=True)
    biz_id: str = Field(max_length=64, unique=True)
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    #: The notice kind (``application_received``), not the provider's template code.
    template: str | None = Field(default=None, max_length=64)
    #: The caller's reference from the payload (``"ref"``), e.g. ``application:12``.
    ref: str | None = Field(default=None, max_length=128)
    accepted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    #: ``accepted`` until the carrier reports; then ``delivered`` or ``failed``.
    status: str = Field(default="accepted", max_length=16)
    err_code: str | None = Field(default=None, max_length=64)
    err_msg: str | None = Field(default=None, max_length=255)
    reported_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
