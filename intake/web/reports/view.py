"""The report page's data: what was reported, why it sits where it does, its deadlines,
history, merged links both ways, files, and the moves the viewer may make.

The caller has checked :func:`~intake.reports.routing.visibility`. A named reporter's name
is shown to the level handling the report; the phone and ID number only masked, revealed
by a logged action (:func:`reveal`). An anonymous report has none of them to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from intake.attachments import Attachment
from intake.audit import AuditEvent, reason_of
from intake.crypto import FieldCipher, FieldCipherError
from intake.identity import mask_id_number, mask_phone
from intake.reports.kinds import ReportRules
from intake.reports.models import Report, ReportAttachment, history, merged_with
from intake.reports.procedure import Action, available, next_due, objection_open_until
from intake.reports.routing import may_act, visibility
from intake.users import Role, Scope, User
from intake.workdays import WorkdayCalendar

__all__ = ["Entry", "ReportView", "load_report_view", "reveal_value"]

#: Fields of audit data that hold encrypted text, shown in clear on the page.
_SEALED = ("answer",)
#: Audit data shown under a history entry, when present.
SHOWN_FACTS = ("answer", "referred_to", "into", "from", "to_level", "letter_date")


@dataclass(frozen=True)
class Entry:
    """One history event as the page shows it (reason and sealed facts decrypted)."""

    event: AuditEvent
    actor: str
    reason: str | None
    facts: dict[str, Any]


@dataclass
class ReportView:
    """Everything the report page shows."""

    report: Report
    village_name: str
    township_name: str
    subject_name: str | None = None
    text: str = ""
    answer: str | None = None
    reporter_name: str | None = None
    masked_phone: str | None = None
    masked_id: str | None = None
    assignee: User | None = None
    #: The report it was merged into, and those merged into it (both directions).
    merged_into: Report | None = None
    merged_from: list[Report] = field(default_factory=list)
    due: tuple[str, date] | None = None
    overdue: bool = False
    #: The deadlines were counted without the official holidays (of this year, if known).
    estimated: bool = False
    estimated_year: int | None = None
    objection_until: date | None = None
    history: list[Entry] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    #: Whether the viewer may act (and see the reporter's masked details).
    acting: bool = False
    actions: list[Action] = field(default_factory=list)
    #: ``(user id, display name)`` of people who may take the report on.
    assignees: list[tuple[int, str]] = field(default_factory=list)


def _clear(cipher: FieldCipher, stored: str | None) -> str | None:
    try:
        return cipher.unseal(stored)
    except FieldCipherError:
        return "?"


def _masked(cipher: FieldCipher, stored: str | None, mask: Any) -> str | None:
    if not stored:
        return None
    try:
        return str(mask(cipher.decrypt(stored)))
    except FieldCipherError:
        return "?"


def _history(session: Session, cipher: FieldCipher, report_id: int) -> list[Entry]:
    events = history(session, report_id)
    ids = {int(e.actor.split(":", 1)[1]) for e in events if e.actor.startswith("user:")}
    names = (
        {
            f"user:{u.id}": u.display_name
            for u in session.exec(select(User).where(col(User.id).in_(ids)))
        }
        if ids
        else {}
    )
    entries = []
    for event in events:
        data = dict(event.data or {})
        try:
            reason = reason_of(event, cipher)
            for key in _SEALED:
                if isinstance(data.get(key), str):
                    data[key] = cipher.unseal(data[key])
        except FieldCipherError:
            reason, data = "?", {}
        entries.append(Entry(event, names.get(event.actor, event.actor), reason, data))
    return entries


def _assignees(session: Session, report: Report) -> list[tuple[int, str]]:
    """Active users who may act on ``report`` (the level handling it or above)."""
    roles = [Role.VILLAGE, Role.TOWNSHIP, Role.COUNTY, Role.ADMIN]
    query = select(User).where(
        col(User.role).in_([r.value for r in roles]),
        col(User.disabled_at).is_(None),
        (col(User.region_code) == report.region_code) | col(User.region_code).is_(None),
    )
    found = []
    for user in session.exec(query.order_by(col(User.display_name))):
        if user.id is not None and may_act(user.scope(), report):
            found.append((user.id, user.display_name))
    return found


def _estimated_year(report: Report, calendar: WorkdayCalendar) -> int | None:
    for day in (report.first_response_due, report.answer_due):
        year = calendar.estimated_year(day)
        if year is not None:
            return year
    return None


def load_report_view(
    session: Session,
    report: Report,
    *,
    scope: Scope,
    cipher: FieldCipher,
    rules: ReportRules,
    calendar: WorkdayCalendar,
    names: tuple[str, str],
    today: date,
) -> ReportView:
    """Gather the page of ``report`` for ``scope`` (which may see it)."""
    assert report.id is not None
    view = ReportView(report, *names)
    view.subject_name = _clear(cipher, report.subject_name_cipher)
    view.text = _clear(cipher, report.text_cipher) or ""
    view.answer = _clear(cipher, report.answer_cipher)
    view.acting = may_act(scope, report)
    if not report.anonymous:
        view.reporter_name = _clear(cipher, report.reporter_name_cipher)
        view.masked_phone = _masked(cipher, report.phone_cipher, mask_phone)
        view.masked_id = _masked(cipher, report.reporter_id_cipher, mask_id_number)
    if report.assignee_id is not None:
        view.assignee = session.get(User, report.assignee_id)
    seen = visibility(scope)
    linked = [r for r in merged_with(session, report) if seen(r)]
    if report.merged_into_id is not None:
        view.merged_into = linked[0] if linked else None
    else:
        view.merged_from = linked
    view.due = next_due(report)
    view.overdue = view.due is not None and view.due[1] < today
    view.estimated_year = _estimated_year(report, calendar)
    view.estimated = report.due_estimated or view.estimated_year is not None
    view.objection_until = objection_open_until(report, rules)
    view.history = _history(session, cipher, report.id)
    query = (
        select(Attachment)
        .join(ReportAttachment, col(ReportAttachment.attachment_id) == col(Attachment.id))
        .where(ReportAttachment.report_id == report.id)
        .order_by(col(Attachment.id))
    )
    view.attachments = list(session.exec(query))
    if view.acting:
        view.actions = available(report)
        if Action.ACCEPT in view.actions:
            view.assignees = _assignees(session, report)
    return view


def reveal_value(cipher: FieldCipher, report: Report, what: str) -> str | None:
    """The named reporter's full phone (``phone``) or ID number (``id``), if any."""
    stored = report.phone_cipher if what == "phone" else report.reporter_id_cipher
    if report.anonymous or not stored:
        return None
    return cipher.decrypt(stored)
