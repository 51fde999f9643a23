"""Column types shared by every table: aware UTC datetimes and JSON documents.

SQLite keeps no time zone, so datetimes are stored as naive UTC and handed back aware;
code never meets a naive datetime from the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    """A :class:`UTCDateTime` column for a SQLModel ``Field(sa_column=...)``."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def json_column(*, nullable: bool = False) -> Any:
    """A JSON column for a SQLModel ``Field(sa_column=...)``."""
    return Column(JSON, nullable=nullable)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
