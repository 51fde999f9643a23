"""Mailbox letters (意见箱): a cadre types a letter in, with its date and a photo of it.

A letter is filed like any report (:func:`~intake.reports.filing.file_report`, source
``mailbox``), anonymous unless the cadre ticks that the writer signed it with a phone. The
photo is an :class:`~intake.attachments.Attachment` of the ``letter`` channel, its bytes
kept encrypted in :class:`~intake.reports.models.ReportFile` (no chat platform keeps
them for us), linked to the report by :class:`~intake.reports.models.ReportAttachment`.
Only images are taken (checked by their first bytes, not by what the browser claims).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from intake import audit
from intake.attachments import Attachment, AttachmentKind
from intake.crypto import FieldCipher
from intake.reports.filing import ReportDraft, Reporter, ReportError, audit_time, local_day
from intake.reports.models import (
    SUBJECT_KIND,
    Report,
    ReportAttachment,
    ReportFile,
    ReportSource,
)

__all__ = [
    "CHANNEL",
    "MAX_PHOTO_BYTES",
    "LetterError",
    "LetterForm",
    "image_mime",
    "letter_date",
    "link_photo",
    "photo_bytes",
    "record_letter",
    "store_photo",
]

CHANNEL = "letter"
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: How old a letter may be when it is typed in (a mailbox is opened at least monthly).
MAX_AGE = timedelta(days=366)
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class LetterError(ValueError):
    """A letter form that cannot be filed; ``code`` names the message (``cadre.letter.*``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class LetterForm:
    """What the cadre typed, as typed (shown again, whole, if it is refused)."""

    kind: str = "complaint"
    village: str = ""
    subject: str = ""
    subject_name: str = ""
    village_told: bool = True
    text: str = ""
    letter_date: str = ""
    signed: bool = False
    reporter_name: str = ""
    phone: str = ""

    def draft(self) -> ReportDraft:
        """The report draft of this letter (anonymous unless signed)."""
        reporter = (
            Reporter(self.reporter_name, self.phone, callback_consent=True) if self.signed else None
        )
        return ReportDraft(
            kind=self.kind,
            village_code=self.village or None,
            subject=self.subject,
            text=self.text,
            subject_name=self.subject_name.strip() or None,
            village_told=self.village_told,
            source=ReportSource.MAILBOX,
            reporter=reporter,
        )


def letter_date(typed: str, now: datetime) -> date:
    """The letter's date: a real day, not in the future, not older than a year."""
    try:
        day = date.fromisoformat(typed.strip())
    except ValueError:
        raise LetterError("cadre.letter.bad_date") from None
    today = local_day(now)
    if day > today or today - day > MAX_AGE:
        raise LetterError("cadre.letter.bad_date")
    return day


def image_mime(content: bytes) -> str | None:
    """The image type ``content`` starts like, or ``None`` if it is no image we take."""
    for signature, mime in _SIGNATURES:
        if content.startswith(signature):
            return mime
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def store_photo(
    session: Session,
    cipher: FieldCipher,
    *,
    content: bytes,
    file_name: str | None,
    now: datetime,
) -> Attachment:
    """Keep an uploaded photo of a letter (encrypted); :class:`LetterError` if it is none."""
    if len(content) > MAX_PHOTO_BYTES:
        raise LetterError("cadre.letter.photo_too_large")
    mime = image_mime(content)
    if mime is None:
        raise LetterError("cadre.letter.not_a_photo")
    token = uuid.uuid4().hex
    row = Attachment(
        channel=CHANNEL,
        external_id=f"letter:{token}",
        contact_id=None,
        kind=AttachmentKind.PHOTO.value,
        file_id=token,
        file_name_cipher=cipher.seal((file_name or "")[:255]),
        mime=mime,
        size=len(content),
        created_at=now,
        linked_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    encoded = base64.b64encode(content).decode("ascii")
    session.add(ReportFile(attachment_id=row.id, content_cipher=cipher.encrypt(encoded)))
    return row


def link_photo(session: Session, report: Report, attachment: Attachment) -> None:
    """File ``attachment`` with ``report``."""
    assert report.id is not None and attachment.id is not None
    session.add(ReportAttachment(report_id=report.id, attachment_id=attachment.id))


def photo_bytes(session: Session, cipher: FieldCipher, attachment: Attachment) -> bytes | None:
    """The bytes of a photo uploaded on the cadre pages (``None`` for a channel's file)."""
    row = session.exec(select(ReportFile).where(ReportFile.attachment_id == attachment.id)).first()
    if row is None:
        return None
    return base64.b64decode(cipher.decrypt(row.content_cipher))


def record_letter(
    session: Session, report: Report, *, actor: str, day: date, now: datetime, photo: bool
) -> None:
    """Note in the report's history that it came as a letter of ``day``, typed in by
    ``actor`` (an anonymous letter's entry is stamped with the day only, like its filing)."""
    assert report.id is not None
    audit.record(
        session,
        actor=actor,
        action="report.letter_entered",
        subject_kind=SUBJECT_KIND,
        subject_id=report.id,
        at=audit_time(now, anonymous=report.anonymous),
        data={"letter_date": day.isoformat(), "photo": photo},
    )


def refusal(error: ReportError | LetterError) -> str:
    """The message id or the bilingual text of a refusal."""
    return error.code if isinstance(error, LetterError) else str(error)
