"""What the applicant is told at each step, in their language, with the next step's date.

:func:`applicant_notice` turns a carried-out transition into a :class:`Notice` (text from
the ``notice.*`` messages of ``locales/*/LC_MESSAGES/cadre.po``); :func:`notice_sink`
wraps a poster (the composition root's outbox writer) into the procedure's sink, so the
notice is written in the same transaction as the change it reports. ``intake`` never
imports the outbox itself (DESIGN, layers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from intake.applications import Application
from intake.contacts import Contact
from intake.helpers.review_notices import review_body
from intake.policy import Policy
from intake.procedure import Action, Done, Sink
from intake.queue import QueueItem
from intake.workdays import SHANGHAI
from locales import normalize_locale, translate

__all__ = ["Notice", "NoticePoster", "applicant_notice", "format_date", "notice_sink"]


@dataclass(frozen=True)
class Notice:
    """One message for the applicant's chat."""

    contact_id: int
    channel: str
    recipient: str
    language: str
    text: str
    dedupe_key: str
    at: datetime


NoticePoster = Callable[[Session, Notice], None]


def format_date(day: date, locale: str) -> str:
    """``2026年12月3日`` in Chinese, ``3 Dec 2026`` in English."""
    if locale == "en":
        return f"{day.day} {day.strftime('%b')} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def _local(moment: datetime | None) -> date | None:
    return moment.astimezone(SHANGHAI).date() if moment else None


def _body(done: Done, policy: Policy, locale: str) -> str | None:
    """The message for this transition, or None when the applicant need not hear of it."""
    item, action = done.item, done.transition.action
    due = _local(item.due_at)
    when = format_date(due, locale) if due else ""
    limits = policy.time_limits
    reason = done.reason or ""
    if action is Action.START_VILLAGE_REVIEW:
        return translate(locale, "notice.village_review")
    if action is Action.VILLAGE_REPORT:
        return translate(
            locale, "notice.township_review", days=limits.township_review_working_days, date=when
        )
    if action is Action.RECORD_OBJECTION:
        return translate(locale, "notice.objection", date=when)
    if action is Action.RETURN_TO_VILLAGE:
        return translate(locale, "notice.returned", reason=reason)
    if action is Action.START_NOTICE:
        start = format_date(done.at.astimezone(SHANGHAI).date(), locale)
        return translate(locale, "notice.public_notice", start=start, end=when)
    if action is Action.END_NOTICE:
        return translate(locale, "notice.county_confirm", date=when)
    if action is Action.ENROL:
        return translate(locale, "notice.enrolled", helper=done.facts.get("helper", ""))
    if action is Action.DECLINE:
        return _declined(policy, locale, reason)
    if action is Action.WITHDRAW:
        return translate(locale, "notice.withdrawn", reason=reason)
    if action is Action.MERGE:
        return translate(locale, "notice.merged", other=done.facts.get("merge_code", ""))
    if action is Action.CLOSE_CALLBACK:
        return translate(locale, "notice.callback_done")
    return review_body(done, locale)


def _declined(policy: Policy, locale: str, reason: str) -> str:
    hotline = policy.region.hotline
    how = (
        translate(locale, "notice.review_hotline", hotline=hotline)
        if hotline
        else translate(locale, "notice.review_township")
    )
    return translate(locale, "notice.not_enrolled", reason=reason, how=how)


def applicant_notice(session: Session, done: Done, policy: Policy) -> Notice | None:
    """The notice for the applicant of ``done.item``, or None (anonymous, stopped, silent)."""
    item = done.item
    if item.contact_id is None or item.id is None:
        return None
    contact = session.get(Contact, item.contact_id)
    if contact is None or contact.stopped_at is not None or contact.id is None:
        return None
    application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    locale = normalize_locale(application.language if application else contact.language)
    body = _body(done, policy, locale)
    if body is None:
        return None
    header = translate(locale, "notice.header", code=item.tracking_code)
    return Notice(
        contact_id=contact.id,
        channel=contact.channel,
        recipient=contact.external_id,
        language=locale,
        text=f"{header}\n{body}",
        dedupe_key=f"notice:{item.id}:{done.event_id}",
        at=done.at,
    )


def notice_sink(post: NoticePoster, policy_of: Callable[[QueueItem], Policy]) -> Sink:
    """The procedure's sink: build each transition's notice and hand it to ``post``."""

    def sink(session: Session, done: Done) -> None:
        notice = applicant_notice(session, done, policy_of(done.item))
        if notice is not None:
            post(session, notice)

    return sink
