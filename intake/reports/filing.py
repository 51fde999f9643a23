"""Filing a report from any route: the chat, the hotline operator, a mailbox letter.

:func:`file_report` checks the draft against the region's rules, routes it
(:mod:`intake.reports.routing`), counts its deadlines in working days and writes the report
with its first audit event, all in the caller's transaction. A draft without a
:class:`Reporter` is anonymous: the report keeps no contact, name, phone or ID number, and
its audit event says ``anonymous`` at the start of the day, not the minute (see
:func:`audit_time`). Chats go through :func:`intake.reports.anonymity.file_from_chat`,
which adds the per-chat limit.

Bad input is refused with a :class:`ReportError` whose message is Chinese first, then
English, ready to show to the person who typed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from intake import audit
from intake.crypto import FieldCipher
from intake.identity import IdProblem, normalize_phone, validate_id_number
from intake.policy import Policy
from intake.queue import allocate_tracking_code
from intake.reports.kinds import ReportKind, ReportRules, SubjectKind
from intake.reports.models import SUBJECT_KIND, Report, ReportSource, ReportState, find_report
from intake.reports.routing import route
from intake.workdays import SHANGHAI, WorkdayCalendar

__all__ = [
    "MAX_TEXT",
    "ReportDraft",
    "ReportError",
    "Reporter",
    "audit_time",
    "deadlines",
    "file_report",
    "local_day",
]

MAX_TEXT = 2000
MAX_NAME = 64


class ReportError(ValueError):
    """A draft that cannot be filed; the message is bilingual, Chinese first."""


@dataclass(frozen=True)
class Reporter:
    """A named reporter: a call-back phone, optionally the ID number, and their contact."""

    name: str
    phone: str
    id_number: str | None = None
    contact_id: int | None = None
    callback_consent: bool = True


@dataclass(frozen=True)
class ReportDraft:
    """What the chat's dialog, the operator or the letter's typist collected."""

    kind: str
    village_code: str | None
    subject: str
    text: str
    subject_name: str | None = None
    village_told: bool = True
    source: ReportSource = ReportSource.CHAT
    #: ``None``: anonymous.
    reporter: Reporter | None = None


def local_day(now: datetime) -> date:
    """The Beijing calendar day of ``now``."""
    return now.astimezone(SHANGHAI).date()


def audit_time(now: datetime, *, anonymous: bool) -> datetime:
    """When to stamp an event: the exact time, or for an anonymous report the start of its
    Beijing day, so the log cannot be matched to a chat message by the minute."""
    if not anonymous:
        return now
    return datetime.combine(local_day(now), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def deadlines(
    start: date, first_days: int, answer_days: int, calendar: WorkdayCalendar
) -> tuple[date, date, bool]:
    """First-response and answer due dates counted in working days from ``start``, and
    whether either was counted without the official calendar (weekends only)."""
    first = calendar.add_working_days(start, first_days)
    answer = calendar.add_working_days(start, answer_days)
    estimated = calendar.estimated_year(answer) is not None
    return first, answer, estimated or calendar.estimated_year(first) is not None


def _refuse(zh: str, en: str) -> ReportError:
    return ReportError(f"{zh} / {en}")


def _checked(draft: ReportDraft, policy: Policy, rules: ReportRules) -> tuple[str, str | None]:
    """``(township code, village code)`` for a valid draft; :class:`ReportError` if not."""
    try:
        kind, subject = ReportKind(draft.kind), SubjectKind(draft.subject)
    except ValueError:
        raise _refuse("请选择反映的类型。", "Please choose what kind of report this is.") from None
    if subject not in rules.kind(kind).subjects:
        raise _refuse(
            "请从按钮里选择反映的对象。", "Please choose whom it is about from the buttons."
        )
    text = draft.text.strip()
    if not text or len(text) > MAX_TEXT:
        raise _refuse(
            f"请写下发生了什么（不超过{MAX_TEXT}字）。",
            f"Please say what happened (up to {MAX_TEXT} characters).",
        )
    if draft.subject_name is not None and len(draft.subject_name.strip()) > MAX_NAME:
        raise _refuse(
            "名字太长了，请只写姓名。", "That name is too long; please give just the name."
        )
    if draft.village_code is None and subject is SubjectKind.TOWNSHIP:
        return policy.townships[0].code, None
    township = policy.township_of(draft.village_code) if draft.village_code else None
    if township is None:
        raise _refuse("请从按钮里选择村。", "Please choose the village from the buttons.")
    return township.code, draft.village_code


def _name_reporter(report: Report, reporter: Reporter, cipher: FieldCipher, today: date) -> None:
    """Fill a named report's reporter fields, encrypted, with keyed hashes for search."""
    phone = normalize_phone(reporter.phone)
    if phone is None:
        raise _refuse("请写一个能接通的手机或座机号码。", "Please give a phone number we can call.")
    name = reporter.name.strip()
    if not name or len(name) > MAX_NAME:
        raise _refuse("请写下您的姓名。", "Please give your name.")
    report.contact_id = reporter.contact_id
    report.reporter_name_cipher = cipher.encrypt(name)
    report.phone_cipher = cipher.encrypt(phone)
    report.phone_hash = cipher.lookup_hash(phone)
    report.callback_consent = reporter.callback_consent
    if reporter.id_number:
        checked = validate_id_number(reporter.id_number, today=today)
        if isinstance(checked, IdProblem):  # a StrEnum: test for it, not for str
            raise _refuse(
                "身份证号码好像不对，请再核对一下。", "That ID number seems wrong; please check it."
            )
        report.reporter_id_cipher = cipher.encrypt(checked)
        report.reporter_id_hash = cipher.lookup_hash(checked)


def _fresh_code(session: Session, new_code: Callable[[], str]) -> str:
    """A code no queue item and no report uses (they share the status lookup)."""

    def unused_by_reports() -> str:
        for _ in range(20):
            code = new_code()
            if find_report(session, code) is None:
                return code
        raise RuntimeError("could not find a free tracking code")

    return allocate_tracking_code(session, unused_by_reports)


def file_report(
    session: Session,
    draft: ReportDraft,
    *,
    policy: Policy,
    rules: ReportRules,
    cipher: FieldCipher,
    calendar: WorkdayCalendar,
    new_code: Callable[[], str],
    now: datetime,
    actor: str | None = None,
) -> Report:
    """Write a new report and its ``report.filed`` event; returns it (flushed, with id).

    ``actor`` is who typed it in (an operator or a cadre entering a letter); by default the
    reporter's contact, or ``anonymous``.
    """
    township_code, village_code = _checked(draft, policy, rules)
    rule = rules.kind(draft.kind)
    where = route(rule, SubjectKind(draft.subject), village_told=draft.village_told)
    today = local_day(now)
    first, answer, estimated = deadlines(
        today, rule.first_response_working_days, rule.answer_working_days, calendar
    )
    anonymous = draft.reporter is None
    name = (draft.subject_name or "").strip()
    report = Report(
        tracking_code=_fresh_code(session, new_code),
        kind=draft.kind,
        source=draft.source.value,
        state=ReportState.RECEIVED.value,
        region_code=policy.region.code,
        township_code=township_code,
        village_code=village_code,
        subject_kind=draft.subject,
        subject_name_cipher=cipher.seal(name),
        subject_name_hash=cipher.lookup_hash(name) if name else None,
        text_cipher=cipher.encrypt(draft.text.strip()),
        anonymous=anonymous,
        routed_level=where.level.value,
        route_reason=where.reason,
        village_told=draft.village_told,
        received_on=today,
        clock_from=today,
        first_response_due=first,
        answer_due=answer,
        due_estimated=estimated,
    )
    if draft.reporter is not None:
        _name_reporter(report, draft.reporter, cipher, today)
    session.add(report)
    session.flush()
    assert report.id is not None
    if actor is None:
        reporter = draft.reporter
        actor = audit.contact_actor(reporter.contact_id if reporter else None)
    audit.record(
        session,
        actor=actor,
        action="report.filed",
        subject_kind=SUBJECT_KIND,
        subject_id=report.id,
        at=audit_time(now, anonymous=anonymous),
        data={"kind": draft.kind, "source": draft.source.value, "route": where.reason},
    )
    return report
