"""One month's visit reminders: when they go, to whom, and what they say.

Content and timing only; ``notifications.jobs`` turns them into timers and outbox rows
(intake imports no notifications). The rules (times are Beijing time, numbers from the
policy's ``helpers:`` section):

- the **first reminder** on the ``reminder_working_day``-th working day of the month at
  ``reminder_hour``: one message per linked helper listing every household due this month,
  each with a button to log the visit (one message per helper, not one per household);
- the **second reminder** ``second_reminder_working_days_before_end`` working days before
  the month's last working day, listing only the households still open;
- helpers who cannot be reached (never linked, or blocked the bot) are listed for their
  township's cadres instead, with the first reminder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from intake.contacts import Contact
from intake.helpers.models import Helper, HelperAssignment, HelperState
from intake.helpers.policy import HelpersPolicy
from intake.helpers.visits import (
    SETTLED,
    Level,
    MonthState,
    Overdue,
    household_states,
    month_bounds,
)
from intake.households import Household
from intake.policy import Policy
from intake.workdays import SHANGHAI, WorkdayCalendar
from locales import translate

__all__ = [
    "MAX_BUTTONS",
    "Message",
    "Recipients",
    "Round",
    "Unreachable",
    "helper_reminder",
    "helper_reminders",
    "helpers_to_remind",
    "next_working_moment",
    "overdue_messages",
    "reminder_at",
    "unreachable_messages",
]

#: Buttons in one reminder; the rest are named in a line (a helper rarely has more).
MAX_BUTTONS = 10
MAX_LINES = 30
#: Why a helper cannot be reminded, as the township reads it.
_WHY = {
    "never_linked": "helpers.unreachable.never_linked",
    "blocked": "helpers.unreachable.blocked",
}
#: Recipients by place code: ``(user id, channel, chat id, language)`` of each cadre.
Recipients = dict[str, list[tuple[int, str, str, str]]]


class Round(StrEnum):
    """The two reminders of a month."""

    FIRST = "first"
    SECOND = "second"


@dataclass(frozen=True)
class Message:
    """One message for one chat; ``dedupe_key`` makes queueing it idempotent."""

    channel: str
    recipient: str
    text: str
    buttons: tuple[tuple[str, str], ...]
    dedupe_key: str


@dataclass(frozen=True)
class Unreachable:
    """A helper with households due who cannot be reminded by chat."""

    helper_id: int
    name: str
    township_code: str
    why: str  # "never_linked" or "blocked"


def _working_days(period: str, calendar: WorkdayCalendar) -> list[date]:
    first, last = month_bounds(period)
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if calendar.is_workday(d)]


def reminder_at(
    period: str, which: Round, calendar: WorkdayCalendar, policy: HelpersPolicy
) -> datetime:
    """When a round of ``period``'s reminders is due (aware, Beijing time)."""
    days = _working_days(period, calendar)
    if which is Round.FIRST:
        day = days[min(policy.reminder_working_day, len(days)) - 1]
    else:
        back = policy.second_reminder_working_days_before_end
        day = days[max(len(days) - 1 - back, 0)]
    return datetime.combine(day, time(policy.reminder_hour), tzinfo=SHANGHAI)


def next_working_moment(
    now: datetime, calendar: WorkdayCalendar, policy: HelpersPolicy
) -> datetime:
    """``now`` if it is within working hours, else the next start of working hours:
    a reminder fired late at night (the service came back) waits for the morning."""
    if calendar.is_working_hours(now, policy.reminder_hour, policy.working_hours_end):
        return now
    local = now.astimezone(SHANGHAI)
    day = local.date()
    if local.hour >= policy.reminder_hour or not calendar.is_workday(day):
        day += timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(policy.reminder_hour), tzinfo=SHANGHAI)


def helpers_to_remind(session: Session, region_code: str) -> tuple[list[int], list[Unreachable]]:
    """Active helpers of the region with households: the linked ones' ids, the others."""
    busy = (
        select(HelperAssignment.helper_id)
        .where(col(HelperAssignment.ended_at).is_(None))
        .group_by(col(HelperAssignment.helper_id))
        .having(func.count() > 0)
    )
    # Columns, not ORM objects: a region has tens of thousands of helpers.
    columns = (Helper.id, Helper.name, Helper.township_code, Helper.chat_external_id)
    query = (
        sa_select(*columns, Contact.stopped_at)  # type: ignore[call-overload]
        .outerjoin(
            Contact,
            (col(Contact.channel) == Helper.chat_channel)
            & (col(Contact.external_id) == Helper.chat_external_id),
        )
        .where(
            Helper.region_code == region_code,
            Helper.state == HelperState.ACTIVE,
            col(Helper.id).in_(busy),
        )
        .order_by(col(Helper.id))
    )
    linked: list[int] = []
    others: list[Unreachable] = []
    for helper_id, name, township, chat, stopped_at in session.execute(query):
        if chat and stopped_at is None:
            linked.append(int(helper_id or 0))
            continue
        why = "blocked" if chat else "never_linked"
        others.append(Unreachable(int(helper_id or 0), name, township, why))
    return linked, others


def _language(session: Session, channel: str, recipient: str) -> str:
    query = select(Contact.language).where(
        Contact.channel == channel, Contact.external_id == recipient
    )
    return session.exec(query).first() or "zh_CN"


def helper_reminder(
    session: Session,
    helper_id: int,
    period: str,
    which: Round,
    *,
    today: date,
    policy: Policy,
    helpers: HelpersPolicy,
) -> Message | None:
    """The helper's reminder for the round, or ``None`` (not linked, nothing open)."""
    helper = session.get(Helper, helper_id)
    if helper is None or helper.state != HelperState.ACTIVE:
        return None
    if not helper.chat_channel or not helper.chat_external_id:
        return None
    query = (
        select(Household)
        .join(HelperAssignment, col(HelperAssignment.household_id) == Household.id)
        .where(HelperAssignment.helper_id == helper_id, col(HelperAssignment.ended_at).is_(None))
        .order_by(col(Household.village_code), col(Household.head_name), col(Household.id))
    )
    households = list(session.exec(query))
    states = household_states(
        session, [int(h.id or 0) for h in households], period, today, helpers.followup_visit_months
    )
    open_ = [h for h in households if states[int(h.id or 0)] not in (*SETTLED, MonthState.NOT_DUE)]
    if not open_:
        return None
    locale = _language(session, helper.chat_channel, helper.chat_external_id)
    return Message(
        channel=helper.chat_channel,
        recipient=helper.chat_external_id,
        text=_reminder_text(locale, helper.name, period, which, open_, policy),
        buttons=tuple(
            (translate(locale, "helpers.reminder.button", name=h.head_name), f"visit:{h.id}")
            for h in open_[:MAX_BUTTONS]
        ),
        dedupe_key=f"reminder:{which.value}:{period}:helper:{helper_id}",
    )


@dataclass(frozen=True)
class _Due:
    """A household as a reminder lists it (columns, not an ORM object)."""

    id: int
    head_name: str
    village_code: str


def helper_reminders(
    session: Session,
    helper_ids: list[int],
    period: str,
    which: Round,
    *,
    today: date,
    policy: Policy,
    helpers: HelpersPolicy,
) -> dict[int, Message]:
    """:func:`helper_reminder` for many helpers with a handful of queries in all (the
    month's fan-out fires a batch of helpers at once): helpers, their households, the
    households' month states, the chats' languages."""
    columns = (Helper.id, Helper.name, Helper.chat_channel, Helper.chat_external_id)
    query = sa_select(*columns).where(  # type: ignore[call-overload]
        col(Helper.id).in_(helper_ids), Helper.state == HelperState.ACTIVE
    )
    found = {int(i): (str(n), str(c), str(e)) for i, n, c, e in session.execute(query) if c and e}
    if not found:
        return {}
    rows = session.execute(
        sa_select(  # type: ignore[call-overload]
            HelperAssignment.helper_id, Household.id, Household.head_name, Household.village_code
        )
        .join(Household, col(Household.id) == HelperAssignment.household_id)
        .where(col(HelperAssignment.helper_id).in_(list(found)),
               col(HelperAssignment.ended_at).is_(None))
        .order_by(col(Household.village_code), col(Household.head_name), col(Household.id))
    ).all()  # fmt: skip
    states = household_states(
        session, [int(r[1]) for r in rows], period, today, helpers.followup_visit_months
    )
    open_: dict[int, list[_Due]] = {}
    for helper_id, household_id, name, village in rows:
        if states[int(household_id)] not in (*SETTLED, MonthState.NOT_DUE):
            shown = _Due(int(household_id), str(name), str(village))
            open_.setdefault(int(helper_id), []).append(shown)
    chats = [found[h][2] for h in open_]
    languages = {
        (str(c), str(e)): str(lang)
        for c, e, lang in session.execute(
            sa_select(Contact.channel, Contact.external_id, Contact.language).where(  # type: ignore[call-overload]
                col(Contact.external_id).in_(chats)
            )
        )
    }
    messages = {}
    for helper_id, due in open_.items():
        name, channel, chat = found[helper_id]
        locale = languages.get((channel, chat), "zh_CN")
        messages[helper_id] = Message(
            channel=channel,
            recipient=chat,
            text=_reminder_text(locale, name, period, which, due, policy),
            buttons=tuple(
                (translate(locale, "helpers.reminder.button", name=h.head_name), f"visit:{h.id}")
                for h in due[:MAX_BUTTONS]
            ),
            dedupe_key=f"reminder:{which.value}:{period}:helper:{helper_id}",
        )
    return messages


def _month_label(period: str, locale: str) -> str:
    year, month = period.split("-")
    return f"{year}-{month}" if locale == "en" else f"{int(year)}年{int(month)}月"


def _reminder_text(
    locale: str, name: str, period: str, which: Round, due: Sequence[Household | _Due],
    policy: Policy,
) -> str:  # fmt: skip
    villages = {v.code: v.name for _, v in policy.villages()}
    lines = [
        translate(locale, "helpers.reminder.line", name=h.head_name,
                  village=villages.get(h.village_code, h.village_code))
        for h in due[:MAX_LINES]
    ]  # fmt: skip
    if len(due) > MAX_LINES:
        lines.append(translate(locale, "helpers.reminder.more", count=len(due) - MAX_LINES))
    msgid = "helpers.reminder.first" if which is Round.FIRST else "helpers.reminder.second"
    header = translate(locale, msgid, name=name, month=_month_label(period, locale), count=len(due))
    return "\n".join([header, *lines])


def unreachable_messages(
    session: Session,
    unreachable: list[Unreachable],
    period: str,
    recipients: Recipients,
) -> list[Message]:
    """One message per township cadre listing their township's unreachable helpers.

    ``recipients`` maps a township code to its cadres' ``(user id, channel, chat,
    language)``; the caller picks the users (intake.users) it may write to.
    """
    by_township: dict[str, list[Unreachable]] = {}
    for item in unreachable:
        by_township.setdefault(item.township_code, []).append(item)
    messages = []
    for township, items in sorted(by_township.items()):
        for user_id, channel, chat, language in recipients.get(township, []):
            lines = [
                translate(language, "helpers.unreachable.line", name=u.name,
                          why=translate(language, _WHY[u.why]))
                for u in items[:MAX_LINES]
            ]  # fmt: skip
            if len(items) > MAX_LINES:
                lines.append(
                    translate(language, "helpers.reminder.more", count=len(items) - MAX_LINES)
                )
            header = translate(
                language, "helpers.unreachable.header",
                month=_month_label(period, language), count=len(items),
            )  # fmt: skip
            messages.append(
                Message(channel, chat, "\n".join([header, *lines]), (),
                        f"unreachable:{period}:user:{user_id}")
            )  # fmt: skip
    return messages


def overdue_messages(
    overdue: list[Overdue],
    level: Level,
    period: str,
    recipients: Recipients,
    policy: Policy,
) -> list[Message]:
    """The ladder's messages: overdue households of a village (or a township) to its cadres.

    ``recipients`` is keyed by village code for :attr:`Level.VILLAGE` and by township code
    for :attr:`Level.TOWNSHIP`. Names and villages only: no ID number, no phone.
    """
    villages = {v.code: (t.code, v.name) for t, v in policy.villages()}
    by_place: dict[str, list[Overdue]] = {}
    for item in overdue:
        township, _ = villages.get(item.village_code, ("", ""))
        place = item.village_code if level is Level.VILLAGE else township
        by_place.setdefault(place, []).append(item)
    msgid = "helpers.overdue.village" if level is Level.VILLAGE else "helpers.overdue.township"
    messages = []
    for place, items in sorted(by_place.items()):
        for user_id, channel, chat, language in recipients.get(place, []):
            lines = [
                translate(language, "helpers.overdue.line", name=o.head_name, helper=o.helper_name,
                          village=villages.get(o.village_code, ("", o.village_code))[1])
                for o in items[:MAX_LINES]
            ]  # fmt: skip
            if len(items) > MAX_LINES:
                lines.append(
                    translate(language, "helpers.reminder.more", count=len(items) - MAX_LINES)
                )
            header = translate(
                language, msgid, month=_month_label(period, language), count=len(items)
            )
            key = f"overdue:{level.value}:{period}:user:{user_id}"
            messages.append(Message(channel, chat, "\n".join([header, *lines]), (), key))
    return messages
