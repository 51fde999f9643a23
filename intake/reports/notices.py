"""What a named reporter is told when their report is answered: a notice for their chat.

The written answer reaches a named reporter who filed by chat through the outbox, in the
language of their chat, with the last day they may object; anyone else (an anonymous
reporter, a caller or letter-writer with no chat) reads it by tracking code. Built here,
posted by the composition root's :data:`~intake.notices.NoticePoster` (``intake`` never
imports the outbox: DESIGN, layers), in the transaction that recorded the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from intake.contacts import Contact
from intake.notices import Notice, format_date
from intake.reports.kinds import ReportRules
from intake.reports.models import Report, history
from locales import normalize_locale, translate

__all__ = ["answer_notices"]


def _answers_given(session: Session, report: Report) -> int:
    """How many answers the report has had (an objection can bring a second)."""
    assert report.id is not None
    return sum(1 for e in history(session, report.id) if e.action == "report.answer")


def answer_notices(
    session: Session,
    reports: Iterable[Report],
    *,
    answer: str,
    answered: Report,
    rules: ReportRules,
    at: datetime,
) -> list[Notice]:
    """A notice per named reporter with a chat among ``reports`` (the answered report and
    those merged into it), each under their own code; none for the others."""
    notices: list[Notice] = []
    for report in reports:
        if report.anonymous or report.contact_id is None or report.id is None:
            continue
        contact = session.get(Contact, report.contact_id)
        if contact is None or contact.id is None or contact.stopped_at is not None:
            continue
        locale = normalize_locale(contact.language)
        parts = [translate(locale, "report.notice.answered", code=report.tracking_code)]
        parts.append(answer)
        if answered.answered_on is not None and not report.objected:
            last = answered.answered_on + timedelta(days=rules.objection_days)
            day = format_date(last, locale)
            parts.append(translate(locale, "report.notice.may_object", date=day))
        notices.append(
            Notice(
                contact_id=contact.id,
                channel=contact.channel,
                recipient=contact.external_id,
                language=locale,
                text="\n".join(parts),
                dedupe_key=f"report-answer:{report.id}:{_answers_given(session, answered)}",
                at=at,
            )
        )
    return notices
