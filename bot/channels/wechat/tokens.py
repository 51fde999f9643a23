"""The Official Account's access token, one for every process, kept in the database.

WeChat issues one access token per app; fetching a new one retires the old within five
minutes, and ``/cgi-bin/token`` has a daily quota. So workers must not each fetch their
own: the token lives in one row per app, and only the worker holding the row's *lease*
fetches. The lease is taken by a conditional UPDATE (``... WHERE the lease is free and the
token is stale``): on PostgreSQL a second worker's UPDATE waits for the first one's row
lock, re-reads the row and matches nothing; SQLite has a single writer. No lock is held
while the HTTP call is in flight, and a lease left by a dead worker simply runs out.

These are synchronous database steps; :class:`~.api.WeChatApi` runs them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col

from intake.columns import utc_column
from intake.db import Database


class WeChatAccessToken(SQLModel, table=True):
    """The current access token of one app, and who is fetching the next one."""

    __tablename__ = "wechat_access_token"

    app_id: str = Field(primary_key=True, max_length=64)
    #: WeChat asks for at least 512 characters of storage.
    token: str | None = Field(default=None, max_length=512)
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    fetched_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    #: How many tokens have been stored: tells a waiting worker that a refresh happened.
    generation: int = 0


@dataclass(frozen=True)
class StoredToken:
    """A snapshot of the row."""

    token: str | None
    expires_at: datetime | None
    lease_until: datetime | None
    generation: int

    def usable(self, now: datetime, margin: timedelta) -> bool:
        """Whether the token is set and stays valid for at least ``margin``."""
        return (
            self.token is not None
            and self.expires_at is not None
            and self.expires_at > now + margin
        )


def read(db: Database, app_id: str) -> StoredToken:
    """The app's row, created empty the first time (two creators at once: one wins)."""
    with db.read() as session:
        row = session.get(WeChatAccessToken, app_id)
        if row is not None:
            return _snapshot(row)
    try:
        with db.write() as session:
            session.add(WeChatAccessToken(app_id=app_id))
    except IntegrityError:
        pass  # another worker created it first: the same empty row
    return StoredToken(None, None, None, 0)


def claim(
    db: Database, app_id: str, owner: str, *, now: datetime, margin: timedelta, lease: timedelta
) -> bool:
    """Take the refresh lease if the token is stale and nobody else holds a live lease."""
    stale = or_(
        col(WeChatAccessToken.token).is_(None), col(WeChatAccessToken.expires_at) <= now + margin
    )
    free = or_(
        col(WeChatAccessToken.lease_until).is_(None), col(WeChatAccessToken.lease_until) <= now
    )
    with db.write() as session:
        result = session.execute(
            update(WeChatAccessToken)
            .where(col(WeChatAccessToken.app_id) == app_id, stale, free)
            .values(lease_owner=owner, lease_until=now + lease)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def store(
    db: Database, app_id: str, owner: str, *, token: str, expires_at: datetime, now: datetime
) -> bool:
    """Save a fetched token and free the lease; ``False`` if the lease was lost meanwhile.

    A worker whose lease ran out may find a newer token stored by its successor; its own,
    older token must not overwrite that one (WeChat retires the older first).
    """
    with db.write() as session:
        result = session.execute(
            update(WeChatAccessToken)
            .where(
                col(WeChatAccessToken.app_id) == app_id, col(WeChatAccessToken.lease_owner) == owner
            )
            .values(
                token=token,
                expires_at=expires_at,
                fetched_at=now,
                lease_owner=None,
                lease_until=None,
                generation=WeChatAccessToken.generation + 1,
            )
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def release(db: Database, app_id: str, owner: str) -> None:
    """Give the lease back after a failed fetch, so the next worker may try at once."""
    with db.write() as session:
        session.execute(
            update(WeChatAccessToken)
            .where(
                col(WeChatAccessToken.app_id) == app_id, col(WeChatAccessToken.lease_owner) == owner
            )
            .values(lease_owner=None, lease_until=None)
        )


def invalidate(db: Database, app_id: str, token: str, *, now: datetime) -> None:
    """Mark ``token`` expired because WeChat refused it (40001/42001/40014).

    Only that token: if another worker has already stored a newer one, it stays.
    """
    with db.write() as session:
        session.execute(
            update(WeChatAccessToken)
            .where(col(WeChatAccessToken.app_id) == app_id, col(WeChatAccessToken.token) == token)
            .values(expires_at=now)
        )


def _snapshot(row: WeChatAccessToken) -> StoredToken:
    return StoredToken(row.token, row.expires_at, row.lease_until, row.generation)
