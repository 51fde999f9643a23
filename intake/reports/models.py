"""The report table: one tip, report, complaint, question or suggestion from the public.

Everything a reporter wrote or said about people is encrypted: the text, the name of the
household or cadre it is about, and for a named report the reporter's name, call-back
phone and ID number (with a keyed hash of each number for exact search, never a LIKE over
plaintext). An anonymous report holds none of those and no contact: see
:mod:`intake.reports.anonymity`. Dates are days (Beijing), not instants: a time of day
would let someone match an anonymous report to a chat message by its timestamp.

Its history is the audit log (``subject_kind == "report"``), read with :func:`history`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, Session, SQLModel, col, select

from intake import audit

__all__ = [
    "FINAL_STATES",
    "SUBJECT_KIND",
    "Report",
    "ReportAttachment",
    "ReportFile",
    "ReportSource",
    "ReportState",
    "find_report",
    "history",
    "merged_with",
]

#: ``AuditEvent.subject_kind`` of report events.
SUBJECT_KIND = "report"


class ReportState(StrEnum):
    """Where a report stands (one state machine: :mod:`intake.reports.procedure`)."""

    RECEIVED = "received"
    ACCEPTED = "accepted"  # assigned to a named person
    INVESTIGATING = "investigating"
    ANSWERED = "answered"  # a written answer the reporter receives or reads by code
    CLOSED = "closed"
    REFERRED = "referred"  # not ours: referred to another body, which is named
    UNFOUNDED = "unfounded"  # with a reason, never deleted
    MERGED = "merged"  # folded into another report about the same household or cadre


#: States in which nothing more is done (an objection may still reopen an answer).
FINAL_STATES = frozenset(
    {ReportState.CLOSED, ReportState.REFERRED, ReportState.UNFOUNDED, ReportState.MERGED}
)


class ReportSource(StrEnum):
    """How the report came in (seed 000 四(一): mailbox, phone lines, and now the chat)."""

    CHAT = "chat"
    HOTLINE = "hotline"
    MAILBOX = "mailbox"


#: Channels whose reports came in another way than a chat of the reporter's own: the
#: hotline operator's console takes calls (the caller has no chat to answer to).
SOURCE_OF_CHANNEL = {"operator": ReportSource.HOTLINE}


def source_of(channel: str) -> ReportSource:
    """How a report filed on ``channel`` came in."""
    return SOURCE_OF_CHANNEL.get(channel, ReportSource.CHAT)


class Report(SQLModel, table=True):
    """One report. Its place columns say what it concerns; ``routed_level`` who handles it."""

    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_scope", "region_code", "township_code", "routed_level", "state"),
        Index("ix_report_village_level", "village_code", "routed_level", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tracking_code: str = Field(max_length=16, unique=True)
    kind: str = Field(max_length=16)
    source: str = Field(max_length=16)
    state: str = Field(max_length=16, index=True)
    region_code: str = Field(max_length=64)
    township_code: str = Field(max_length=64)
    #: The village the report concerns (``None``: about the township as a whole).
    village_code: str | None = Field(default=None, max_length=64)
    subject_kind: str = Field(max_length=16)
    subject_name_cipher: str | None = None
    #: Keyed hash of the subject's name, so a search by a household's name is exact.
    subject_name_hash: str | None = Field(default=None, max_length=64, index=True)
    text_cipher: str
    anonymous: bool
    #: The filer's contact, for a named report only; an anonymous one keeps none.
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    reporter_name_cipher: str | None = None
    phone_cipher: str | None = None
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    reporter_id_cipher: str | None = None
    reporter_id_hash: str | None = Field(default=None, max_length=64, index=True)
    #: The caller agreed to be called back on ``phone`` (hotline and chat, named only).
    callback_consent: bool = False
    routed_level: str = Field(max_length=16)
    #: Why it sits at that level (a key such as ``concerns_village``; shown on the item page).
    route_reason: str = Field(max_length=32)
    village_told: bool = True
    assignee_id: int | None = Field(default=None, foreign_key="cadre_user.id")
    answer_cipher: str | None = None
    #: Where a report that is not ours was referred (a body's name, not personal).
    referred_to: str | None = Field(default=None, max_length=128)
    merged_into_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    objected: bool = False
    received_on: date
    #: The day the deadlines count from: receipt, or the objection that reopened it.
    clock_from: date
    first_response_due: date
    answer_due: date
    #: The deadlines were counted with weekends only (the calendar lacks the year).
    due_estimated: bool = False
    first_response_on: date | None = None
    answered_on: date | None = None
    closed_on: date | None = None


class ReportAttachment(SQLModel, table=True):
    """A file filed with a report: a photo of a mailbox letter, or one sent in the chat.

    The file itself is an :class:`~intake.attachments.Attachment` (its channel keeps it,
    or, for a letter typed in by a cadre, :class:`ReportFile` does). Migration 0009.
    """

    __tablename__ = "report_attachment"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    attachment_id: int = Field(foreign_key="attachment.id", unique=True)


class ReportFile(SQLModel, table=True):
    """The bytes of a file uploaded on the cadre pages (a letter's photo), encrypted: no
    channel keeps it for us. Base64 inside the token. Migration 0009."""

    __tablename__ = "report_file"

    id: int | None = Field(default=None, primary_key=True)
    attachment_id: int = Field(foreign_key="attachment.id", unique=True)
    content_cipher: str


def find_report(session: Session, code: str) -> Report | None:
    """The report a (canonical) tracking code names."""
    return session.exec(select(Report).where(Report.tracking_code == code)).first()


def history(session: Session, report_id: int) -> list[audit.AuditEvent]:
    """The report's timeline, oldest first."""
    return audit.events_for(session, SUBJECT_KIND, report_id)


def merged_with(session: Session, report: Report) -> list[Report]:
    """Reports linked to ``report`` by a merge, either way: the one it was merged into, or
    those merged into it."""
    if report.merged_into_id is not None:
        target = session.get(Report, report.merged_into_id)
        return [target] if target is not None else []
    query = select(Report).where(Report.merged_into_id == report.id).order_by(col(Report.id))
    return list(session.exec(query))
