"""The SMS channel's bookkeeping: the daily cap, opt-outs and receipts, safe under races.

Every write is one statement (``INSERT ... ON CONFLICT DO UPDATE``, on PostgreSQL and on
SQLite alike), so two dispatchers or two receipt pushes can never both take the last slot
of a phone's day, or let an older reply overwrite a newer one.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from intake.contacts import Contact
from notifications.sms.models import SmsDailyCount, SmsOptOut, SmsReceipt

BEIJING = ZoneInfo("Asia/Shanghai")
#: The SMS channel's name in the outbox and in ``contact.channel``.
CHANNEL = "sms"

#: Replies that stop our SMS. Carriers and MIIT rules make "回复TD退订" binding, so an
#: unclear reply that mentions 退订 counts as one too (a wrong opt-out costs one "订阅").
OPT_OUT_WORDS = frozenset(
    {"T", "TD", "退订", "退定", "退", "取消", "0000", "00000", "STOP", "UNSUBSCRIBE"}
)
#: Replies that open SMS again after an opt-out (only the exact word).
OPT_IN_WORDS = frozenset({"订阅", "开通", "恢复", "重新订阅", "恢复订阅"})

Choice = Literal["out", "in"]


def beijing_day(moment: datetime) -> date:
    """The calendar day in Beijing at ``moment`` (an aware datetime)."""
    return moment.astimezone(BEIJING).date()


def next_day_at(moment: datetime, hour: int) -> datetime:
    """``hour`` o'clock Beijing time on the day after ``moment``'s Beijing day."""
    day = beijing_day(moment) + timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=BEIJING)


def _insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# ------------------------------------------------------------------------- the daily cap


def reserve(session: Session, phone_hash: str, day: date, cap: int) -> bool:
    """Take one of the ``cap`` sends of ``phone_hash`` on ``day``; ``False`` when none is left.

    One statement: the conflicting row is locked while its count is checked and raised.
    """
    stmt = _insert(session, SmsDailyCount).values(phone_hash=phone_hash, day=day, sent=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["phone_hash", "day"],
        set_={"sent": col(SmsDailyCount.sent) + 1},
        where=col(SmsDailyCount.sent) < cap,
    ).returning(col(SmsDailyCount.sent))
    return session.execute(stmt).first() is not None


def give_back(session: Session, phone_hash: str, day: date) -> None:
    """Return a slot taken by :func:`reserve` for a send that surely did not go out."""
    session.execute(
        update(SmsDailyCount)
        .where(
            col(SmsDailyCount.phone_hash) == phone_hash,
            col(SmsDailyCount.day) == day,
            col(SmsDailyCount.sent) > 0,
        )
        .values(sent=col(SmsDailyCount.sent) - 1)
    )


def sent_on(session: Session, phone_hash: str, day: date) -> int:
    """How many slots ``phone_hash`` has used on ``day``."""
    query = select(SmsDailyCount.sent).where(
        SmsDailyCount.phone_hash == phone_hash, SmsDailyCount.day == day
    )
    return int(session.exec(query).first() or 0)


# ------------------------------------------------------------------------------ opt-out


def classify_reply(text: str) -> Choice | None:
    """``"out"`` for an unsubscribe reply, ``"in"`` for a subscribe one, else ``None``."""
    folded = unicodedata.normalize("NFKC", text).upper()
    word = "".join(ch for ch in folded if ch.isalnum())
    if word in OPT_OUT_WORDS or "退订" in word:
        return "out"
    if word in OPT_IN_WORDS:
        return "in"
    return None


def is_opted_out(session: Session, phone_hash: str) -> bool:
    """Whether the phone's newest reply asked us to stop."""
    query = select(SmsOptOut.opted_out).where(SmsOptOut.phone_hash == phone_hash)
    return bool(session.exec(query).first())


def record_reply(
    session: Session, phone_hash: str, text: str, *, replied_at: datetime, now: datetime
) -> Choice | None:
    """Apply an uplink reply; returns what it decided (``None``: not a keyword, or stale).

    A reply older than the one on record changes nothing (batches arrive out of order).
    Opting back in clears ``stopped_at`` of the phone's SMS contact, if it has one.
    """
    choice = classify_reply(text)
    if choice is None:
        return None
    keyword = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isalnum())[:32]
    values = {
        "phone_hash": phone_hash,
        "opted_out": choice == "out",
        "keyword": keyword,
        "replied_at": replied_at,
        "recorded_at": now,
    }
    stmt = _insert(session, SmsOptOut).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["phone_hash"],
        set_={name: stmt.excluded[name] for name in values if name != "phone_hash"},
        where=col(SmsOptOut.replied_at) <= stmt.excluded.replied_at,
    ).returning(col(SmsOptOut.id))
    if session.execute(stmt).first() is None:
        return None
    if choice == "in":
        session.execute(
            update(Contact)
            .where(col(Contact.channel) == CHANNEL, col(Contact.external_id) == phone_hash)
            .values(stopped_at=None)
        )
    return choice


# ----------------------------------------------------------------------------- receipts


def record_accepted(
    session: Session,
    biz_id: str,
    *,
    phone_hash: str,
    template: str,
    ref: str | None,
    at: datetime,
) -> None:
    """The gateway took a message under ``biz_id`` (a report may already be on record)."""
    values = {
        "biz_id": biz_id,
        "phone_hash": phone_hash,
        "template": template,
        "ref": ref,
        "accepted_at": at,
    }
    stmt = _insert(session, SmsReceipt).values(**values, status="accepted")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["biz_id"],
            set_={name: stmt.excluded[name] for name in values if name != "biz_id"},
        )
    )


def record_report(
    session: Session,
    biz_id: str,
    *,
    delivered: bool,
    err_code: str | None,
    err_msg: str | None,
    reported_at: datetime,
) -> bool:
    """The carrier's report for ``biz_id``; ``False`` if a newer one is already recorded.

    A report may come before :func:`record_accepted` has run (the push is fast): the row is
    made here and completed there.
    """
    values = {
        "status": "delivered" if delivered else "failed",
        "err_code": (err_code or None) and err_code[:64],
        "err_msg": (err_msg or None) and err_msg[:255],
        "reported_at": reported_at,
    }
    stmt = _insert(session, SmsReceipt).values(biz_id=biz_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["biz_id"],
        set_={name: stmt.excluded[name] for name in values},
        where=col(SmsReceipt.reported_at).is_(None)
        | (col(SmsReceipt.reported_at) <= stmt.excluded.reported_at),
    ).returning(col(SmsReceipt.id))
    return session.execute(stmt).first() is not None


def receipt(session: Session, biz_id: str) -> SmsReceipt | None:
    """The receipt row of ``biz_id``."""
    return session.exec(select(SmsReceipt).where(SmsReceipt.biz_id == biz_id)).first()
