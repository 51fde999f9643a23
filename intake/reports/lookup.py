"""Status by tracking code, told to each asker no more than they may know.

Whoever holds a valid code learns the report's state and the next step with its date.
The answer (or the referral, or the reason it was found unfounded) is told only to

* the filer's own chat (a named report's contact),
* anyone giving the last 4 characters of the named reporter's ID number, and
* for an anonymous report, the code's holder: the code is the only key an anonymous
  reporter has, and the answer is written to be read with it;

never a name, a phone or the report's text. Lookups are throttled per chat
(``lookups_per_chat_per_hour``), and wrong ID endings per report per day
(``id_attempts_per_report_per_day``), so neither codes nor endings can be guessed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from intake import audit
from intake.crypto import FieldCipher
from intake.reports import limits
from intake.reports.filing import local_day
from intake.reports.kinds import ReportRules
from intake.reports.models import Report, ReportState, find_report, history
from intake.reports.procedure import objection_open_until
from intake.workdays import SHANGHAI

__all__ = ["NEXT_STEP", "STATE_TEXT", "Asker", "Lookup", "Outcome", "StatusView", "lookup"]

R = ReportState
#: Message ids of each state, as the reporter reads it.
STATE_TEXT: dict[ReportState, str] = {
    R.RECEIVED: "report.state.received",
    R.ACCEPTED: "report.state.accepted",
    R.INVESTIGATING: "report.state.investigating",
    R.ANSWERED: "report.state.answered",
    R.CLOSED: "report.state.closed",
    R.REFERRED: "report.state.referred",
    R.UNFOUNDED: "report.state.unfounded",
}
#: Message ids of what happens next (``{date}`` where there is one).
NEXT_STEP: dict[ReportState, str] = {
    R.RECEIVED: "report.next.received",
    R.ACCEPTED: "report.next.investigating",
    R.INVESTIGATING: "report.next.investigating",
    R.ANSWERED: "report.next.answered",
    R.CLOSED: "report.next.closed",
    R.REFERRED: "report.next.referred",
    R.UNFOUNDED: "report.next.unfounded",
}
_OBJECTION_OVER = "report.next.closed"
_MAX_MERGE_HOPS = 8


class Outcome(StrEnum):
    """How a lookup went."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Asker:
    """Who is asking: their chat, and their contact if they have one."""

    channel: str
    sender: str
    contact_id: int | None = None


@dataclass(frozen=True)
class StatusView:
    """What the asker is told; ``detail`` is ``None`` unless they may read it."""

    code: str
    kind: str
    state: ReportState
    state_text: str
    next_text: str
    next_params: dict[str, Any] = field(default_factory=dict)
    #: The deadline was counted without the official holidays of its year.
    estimated: bool = False
    detail: str | None = None
    #: Whether the asker saw the full view (filer, ID ending, or an anonymous report).
    full: bool = False
    #: The given ID ending was wrong, or too many wrong ones were tried today.
    id_refused: bool = False
    #: The reporter's ID number is on file, so a reporter asking from another chat may
    #: open the full view with its last 4 characters.
    verifiable: bool = False
    #: The last day the asker may object to the answer (the full view only, once).
    objection_until: date | None = None


@dataclass(frozen=True)
class Lookup:
    """A lookup's outcome and, when found, the view."""

    outcome: Outcome
    view: StatusView | None = None


def _window_end(now: datetime, hours: int) -> datetime:
    start = now.replace(minute=0, second=0, microsecond=0)
    return start + timedelta(hours=hours)


def _day_end(now: datetime) -> datetime:
    day = local_day(now) + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def _followed(session: Session, report: Report) -> Report:
    """The report whose progress ``report`` shares: itself, or the one it was merged into."""
    current = report
    for _ in range(_MAX_MERGE_HOPS):
        if current.merged_into_id is None:
            return current
        target = session.get(Report, current.merged_into_id)
        if target is None:
            return current
        current = target
    return current


def _id_matches(
    session: Session,
    report: Report,
    ending: str,
    rules: ReportRules,
    cipher: FieldCipher,
    now: datetime,
) -> bool | None:
    """Whether ``ending`` is the last 4 of the reporter's ID (``None``: no ID to check, or
    the day's wrong tries are used up). A wrong try is counted against the report."""
    if report.reporter_id_cipher is None:
        return None
    key = limits.counter_key(cipher, "id-ending", report.tracking_code, "")
    if limits.used(session, key, now) >= rules.id_attempts_per_report_per_day:
        return None
    expected = cipher.decrypt(report.reporter_id_cipher)[-4:].upper()
    if hmac.compare_digest(ending.strip().upper().encode(), expected.encode()):
        return True
    limits.take(
        session,
        key,
        limit=rules.id_attempts_per_report_per_day,
        expires_at=_day_end(now),
        now=now,
    )
    return False


def _detail(session: Session, report: Report, cipher: FieldCipher) -> str | None:
    """The answer, the referral or the unfounded reason, as the reporter may read it."""
    state = ReportState(report.state)
    if state in (R.ANSWERED, R.CLOSED):
        return cipher.unseal(report.answer_cipher)
    if state is R.REFERRED:
        return report.referred_to
    if state is R.UNFOUNDED and report.id is not None:
        marked = [e for e in history(session, report.id) if e.action == "report.mark_unfounded"]
        return audit.reason_of(marked[-1], cipher) if marked else None
    return None


def _next(report: Report, rules: ReportRules) -> tuple[str, dict[str, Any]]:
    state = ReportState(report.state)
    if state is R.RECEIVED:
        return NEXT_STEP[state], {"date": report.first_response_due}
    if state in (R.ACCEPTED, R.INVESTIGATING):
        return NEXT_STEP[state], {"date": report.answer_due}
    if state is R.ANSWERED:
        until = objection_open_until(report, rules)
        return (NEXT_STEP[state], {"date": until}) if until else (_OBJECTION_OVER, {})
    return NEXT_STEP[state], {}


def lookup(
    session: Session,
    code: str,
    *,
    asker: Asker,
    rules: ReportRules,
    cipher: FieldCipher,
    now: datetime,
    id_ending: str | None = None,
) -> Lookup:
    """Look a report up by its (canonical) code on behalf of ``asker``."""
    key = limits.counter_key(cipher, "lookup", f"{asker.channel}\x1f{asker.sender}", "")
    if not limits.take(
        session,
        key,
        limit=rules.lookups_per_chat_per_hour,
        expires_at=_window_end(now, 1),
        now=now,
    ):
        return Lookup(Outcome.THROTTLED)
    report = find_report(session, code)
    if report is None:
        return Lookup(Outcome.NOT_FOUND)
    shown = _followed(session, report)
    own = asker.contact_id is not None and asker.contact_id == report.contact_id
    matched = _id_matches(session, report, id_ending, rules, cipher, now) if id_ending else None
    full = report.anonymous or own or matched is True
    next_text, params = _next(shown, rules)
    state = ReportState(shown.state)
    return Lookup(
        Outcome.FOUND,
        StatusView(
            code=report.tracking_code,
            kind=report.kind,
            state=state,
            state_text=STATE_TEXT[state],
            next_text=next_text,
            next_params=params,
            estimated=shown.due_estimated and isinstance(params.get("date"), date),
            detail=_detail(session, shown, cipher) if full else None,
            full=full,
            id_refused=id_ending is not None and matched is not True and not own,
            verifiable=not full and report.reporter_id_cipher is not None,
            objection_until=objection_open_until(report, rules) if full else None,
        ),
    )
