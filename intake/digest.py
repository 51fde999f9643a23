"""The cadre's daily digest: what is new and what is due soon in their area.

Reports from the public are counted and listed in their own lines, chosen by
:func:`~intake.reports.routing.visibility` like every report page: a complaint about a
village committee reaches the township's digest, never that village's. An overdue report
stays in the digest of its level and of every level above that sees it (the township sees
its villages' reports), the ladder every item climbs.

Helpers' measures past their deadline (完成时限) climb the same ladder as a visit: from the
day after the deadline in the village's digest, and after the policy's
``township_escalation_working_days`` also in the township's (:mod:`intake.helpers.measures`).

Content only; ``notifications.digest`` decides when to send it (working hours, once a
day) and writes it to the outbox for the user's linked chat account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, func, select

from intake.crypto import FieldCipher
from intake.helpers.measures import LateMeasure, late_measures
from intake.helpers.policy import helpers_policy
from intake.helpers.visits import Level
from intake.identity import redact
from intake.notices import format_date
from intake.policy import Policy
from intake.queue import CLOSED_STATUSES, QueueItem
from intake.reports.models import Report, ReportState
from intake.reports.procedure import next_due
from intake.reports.routing import visibility
from intake.users import Role, User
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
    cipher: FieldCipher,
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
    reports = _reports(session, user, since, now, calendar)
    measures = _late_measures(session, user, cipher, now, calendar, policies)
    if not new_count and not due and not reports.new and not reports.due and not measures:
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
    names = _village_names(policies)
    lines = [
        header,
        *_lines(locale, due, new, names),
        *_report_lines(locale, reports, names),
        *_measure_lines(locale, measures, names),
    ]
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


@dataclass(frozen=True)
class _Reports:
    """The reports part of a digest: how many are new, and the open ones due soon."""

    new: int
    due: list[tuple[Report, str, date]]
    overdue: int


_RUNNING = [ReportState.RECEIVED.value, ReportState.ACCEPTED.value, ReportState.INVESTIGATING.value]


def _reports(
    session: Session, user: User, since: datetime, now: datetime, calendar: WorkdayCalendar
) -> _Reports:
    """The reports ``user`` may see that are new since ``since`` or due by the next
    working day (their next deadline: first response, then answer)."""
    seen = visibility(user.scope()).sql
    since_day = since.astimezone(SHANGHAI).date()
    today = now.astimezone(SHANGHAI).date()
    soon = calendar.end_of_working_day(now, 1).astimezone(SHANGHAI).date()
    new = session.exec(
        select(func.count()).select_from(Report).where(seen, col(Report.received_on) >= since_day)
    ).one()
    running = session.exec(
        select(Report)
        .where(
            seen,
            col(Report.state).in_(_RUNNING),
            col(Report.first_response_due) <= soon,
        )
        .order_by(col(Report.first_response_due), col(Report.id))
        .limit(500)
    )
    due = []
    for report in running:
        step = next_due(report)
        if step is not None and step[1] <= soon:
            due.append((report, step[0], step[1]))
    due.sort(key=lambda row: (row[2], row[0].id or 0))
    return _Reports(int(new), due, sum(1 for _, _, day in due if day < today))


def _report_lines(locale: str, reports: _Reports, names: dict[str, str]) -> list[str]:
    """The reports' header and one line per due report, at most :data:`MAX_LINES`."""
    if not reports.new and not reports.due:
        return []
    lines = [
        translate(
            locale,
            "notice.digest.reports",
            new=reports.new,
            soon=len(reports.due) - reports.overdue,
            overdue=reports.overdue,
        )
    ]
    for report, step, day in reports.due[:MAX_LINES]:
        lines.append(
            translate(
                locale,
                "notice.digest.report_line",
                code=report.tracking_code,
                village=names.get(report.village_code or "", report.township_code),
                step=translate(locale, _STEP[step]),
                due=format_date(day, locale),
            )
        )
    if len(reports.due) > MAX_LINES:
        lines.append(translate(locale, "notice.digest.more", count=len(reports.due) - MAX_LINES))
    return lines


_STEP = {"first_response": "cadre.report.due.first_response", "answer": "cadre.report.due.answer"}


def _late_measures(
    session: Session, user: User, cipher: FieldCipher, now: datetime,
    calendar: WorkdayCalendar, policies: dict[str, Policy],
) -> list[LateMeasure]:  # fmt: skip
    """The late measures of a village user's village, or those a township user's villages
    have let run past the township's day; none for the county (it hears of them by page)."""
    role = Role(user.role)
    policy = policies.get(user.region_code or "")
    if role not in (Role.VILLAGE, Role.TOWNSHIP) or policy is None or not policy.helpers:
        return []
    villages = {code for code, _ in user.scope().villages(policies)}
    today = now.astimezone(SHANGHAI).date()
    late = late_measures(session, cipher, villages, today, calendar, helpers_policy(policy))
    if role is Role.TOWNSHIP:
        late = [m for m in late if m.level is Level.TOWNSHIP]
    return late


def _measure_lines(locale: str, late: list[LateMeasure], names: dict[str, str]) -> list[str]:
    """The late measures' header and one line each, at most :data:`MAX_LINES`."""
    if not late:
        return []
    lines = [translate(locale, "notice.digest.measures", count=len(late))]
    for measure in late[:MAX_LINES]:
        lines.append(
            translate(
                locale,
                "notice.digest.measure_line",
                name=measure.head_name,
                village=names.get(measure.village_code, measure.village_code),
                measure=redact(measure.measure)[:40],  # free text: no ID or phone in a chat
                due=format_date(measure.deadline, locale),
            )
        )
    if len(late) > MAX_LINES:
        lines.append(translate(locale, "notice.digest.more", count=len(late) - MAX_LINES))
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
