"""The cadre's daily digest: what is new and what is due soon in their area.

Content only; ``notifications.digest`` decides when to send it (working hours, once a
day) and writes it to the outbox for the user's linked chat account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlmodel import Session, col, func, select

from intake.notices import format_date
from intake.policy import Policy
from intake.queue import CLOSED_STATUSES, QueueItem
from intake.users import User
from intake.web.labels import STATUS
from intake.workdays import SHANGHAI, WorkdayCalendar
from locales import normalize_locale, translate

__all__ = ["Digest", "build_digest"]

MAX_LINES = 10


@dataclass(frozen=True)
class Digest:
    """One digest message for one user's chat account."""

    user_id: int
    channel: str
    recipient: str
    text: str
    dedupe_key: str


def _village_names(policies: dict[str, Policy]) -> dict[str, str]:
    return {v.code: v.name for p in policies.values() for _, v in p.villages()}


def build_digest(
    session: Session,
    user: User,
    *,
    since: datetime,
    now: datetime,
    calendar: WorkdayCalendar,
    policies: dict[str, Policy],
    base_url: str,
) -> Digest | None:
    """The digest of ``user``'s scope, or None (no chat linked, or nothing to say)."""
    if user.id is None or not user.chat_channel or not user.chat_external_id:
        return None
    scope = user.scope().where()
    open_items = col(QueueItem.status).not_in([s.value for s in CLOSED_STATUSES])
    fresh = col(QueueItem.created_at) > since
    new_count = session.exec(select(func.count()).where(scope, fresh)).one()
    new = list(
        session.exec(
            select(QueueItem).where(scope, fresh).order_by(col(QueueItem.id)).limit(MAX_LINES)
        )
    )
    soon_until = calendar.end_of_working_day(now, 1)
    due = list(
        session.exec(
            select(QueueItem)
            .where(scope, open_items, col(QueueItem.due_at) <= soon_until)
            .order_by(col(QueueItem.due_at), col(QueueItem.id))
            .limit(200)
        )
    )
    if not new_count and not due:
        return None
    locale = normalize_locale(user.language)
    overdue = sum(1 for item in due if item.due_at is not None and item.due_at < now)
    today = now.astimezone(SHANGHAI).date()
    header = translate(
        locale,
        "notice.digest.header",
        date=format_date(today, locale),
        new=new_count,
        soon=len(due) - overdue,
        overdue=overdue,
    )
    lines = [header, *_lines(locale, due, new, _village_names(policies))]
    lines.append(translate(locale, "notice.digest.link", url=base_url.rstrip("/") + "/cadre/"))
    return Digest(
        user_id=user.id,
        channel=user.chat_channel,
        recipient=user.chat_external_id,
        text="\n".join(lines),
        dedupe_key=f"digest:{user.id}:{today.isoformat()}",
    )


def _lines(
    locale: str, due: list[QueueItem], new: list[QueueItem], names: dict[str, str]
) -> list[str]:
    """One line per due item, then per new item, at most :data:`MAX_LINES` in all."""
    shown = {item.id for item in due[:MAX_LINES]}
    listed = due[:MAX_LINES] + [i for i in new if i.id not in shown][: max(0, MAX_LINES - len(due))]
    lines = []
    for item in listed:
        due_at = item.due_at.astimezone(SHANGHAI).date() if item.due_at else None
        lines.append(
            translate(
                locale,
                "notice.digest.line" if due_at else "notice.digest.new_line",
                code=item.tracking_code,
                village=names.get(item.village_code or "", item.township_code),
                status=translate(locale, STATUS.get(item.status, STATUS["submitted"])),
                due=format_date(due_at, locale) if due_at else "",
            )
        )
    hidden = len(due) + len(new) - len(listed)
    if hidden > 0:
        lines.append(translate(locale, "notice.digest.more", count=hidden))
    return lines


def default_since(user: User, now: datetime, calendar: WorkdayCalendar) -> datetime:
    """Items newer than this count as new: since the user's last digest or, for a first
    digest, since the start of the previous working day (Beijing time)."""
    if user.last_digest_at is not None:
        return user.last_digest_at
    day = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    while not calendar.is_workday(day):
        day -= timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)
