"""Outbound messages of the cadre side: the daily digest tick and applicants' notices.

:func:`send_digests` is what the scheduler ticks (every few minutes, any number of
workers): in working hours on a working day it gives each active user with a linked chat
account at most one digest per day, written to the outbox with a per-user, per-day
dedupe key, so a second worker or a second tick sends nothing twice. :func:`post_notice`
is the poster the composition root hands to the cadre pages for applicants' notices.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from intake.crypto import FieldCipher
from intake.db import Database
from intake.digest import build_digest, default_since
from intake.notices import Notice
from intake.policy import Policy
from intake.users import User
from intake.workdays import SHANGHAI, WorkdayCalendar
from notifications.outbox import Priority, enqueue

__all__ = ["post_notice", "send_digests"]


def post_notice(session: Session, notice: Notice) -> None:
    """Write an applicant's notice to the outbox in the caller's transaction."""
    enqueue(
        session,
        channel=notice.channel,
        recipient=notice.recipient,
        contact_id=notice.contact_id,
        payload={"text": notice.text, "buttons": []},
        priority=Priority.NOTICE,
        dedupe_key=notice.dedupe_key,
        now=notice.at,
    )


def send_digests(
    db: Database,
    *,
    calendar: WorkdayCalendar,
    policies: dict[str, Policy],
    now: datetime,
    base_url: str,
    cipher: FieldCipher,
    start_hour: int = 9,
    end_hour: int = 17,
) -> int:
    """Queue today's digests that are due; returns how many messages were queued."""
    if not calendar.is_working_hours(now, start_hour, end_hour):
        return 0
    today = now.astimezone(SHANGHAI).date()
    queued = 0
    with db.write() as session:
        query = select(User).where(
            col(User.disabled_at).is_(None), col(User.chat_external_id).is_not(None)
        )
        if not db.is_sqlite:  # two workers ticking at once each take different users
            query = query.with_for_update(skip_locked=True)
        for user in list(session.exec(query)):
            last = user.last_digest_at
            if last is not None and last.astimezone(SHANGHAI).date() == today:
                continue
            digest = build_digest(
                session,
                user,
                since=default_since(user, now, calendar),
                now=now,
                calendar=calendar,
                policies=policies,
                base_url=base_url,
                cipher=cipher,
            )
            user.last_digest_at = now
            session.add(user)
            if digest is None:
                continue
            message = enqueue(
                session,
                channel=digest.channel,
                recipient=digest.recipient,
                payload={"text": digest.text, "buttons": []},
                priority=Priority.BULK,
                dedupe_key=digest.dedupe_key,
                now=now,
            )
            queued += message is not None
    return queued
