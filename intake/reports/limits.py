"""Counters that expire, keyed by a keyed hash: how rate limits remember without a name.

Anonymous reports per chat per day and status lookups per chat per hour must be counted
by chat, yet an anonymous report must leave no lasting link to the chat. So a counter's
key is the HMAC of ``(purpose, chat, window)`` (:meth:`~intake.crypto.FieldCipher
.lookup_hash`), the row carries no chat, no report and no time finer than its window's
end, and rows are deleted once the window is over: afterwards nothing recomputes them
into a fact about a chat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, delete, select

from intake.columns import utc_column
from intake.crypto import FieldCipher

__all__ = ["ReportRate", "counter_key", "purge_expired", "take"]


class ReportRate(SQLModel, table=True):
    """How many times one key was used in its window, forgotten once it ends."""

    __tablename__ = "report_rate"
    __table_args__ = (UniqueConstraint("key_hash", name="uq_report_rate_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64)
    count: int = 0
    expires_at: datetime = Field(sa_column=utc_column(index=True))


def counter_key(cipher: FieldCipher, purpose: str, who: str, window: str) -> str:
    """The keyed hash naming one counter (``purpose`` keeps the limits apart)."""
    return cipher.lookup_hash(f"report-rate\x1f{purpose}\x1f{who}\x1f{window}")


def purge_expired(session: Session, now: datetime) -> int:
    """Delete every counter whose window has ended; returns how many."""
    result = session.execute(delete(ReportRate).where(col(ReportRate.expires_at) <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def used(session: Session, key_hash: str, now: datetime) -> int:
    """How many times ``key_hash`` was taken in its current window."""
    row = session.exec(select(ReportRate).where(ReportRate.key_hash == key_hash)).first()
    return row.count if row is not None and row.expires_at > now else 0


def take(
    session: Session, key_hash: str, *, limit: int, expires_at: datetime, now: datetime
) -> bool:
    """Count one use of ``key_hash`` if fewer than ``limit`` were counted; False if not.

    The increment is one conditional UPDATE, so two workers cannot both take the last
    use; the first use inserts the row (a concurrent twin's insert loses and retries).
    """
    purge_expired(session, now)
    for _ in range(2):
        bumped = session.execute(
            update(ReportRate)
            .where(col(ReportRate.key_hash) == key_hash, col(ReportRate.count) < limit)
            .values(count=col(ReportRate.count) + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            return True
        if session.exec(select(ReportRate.id).where(ReportRate.key_hash == key_hash)).first():
            return False
        try:
            with session.begin_nested():
                session.add(ReportRate(key_hash=key_hash, count=1, expires_at=expires_at))
            return True
        except IntegrityError:
            continue
    return False
