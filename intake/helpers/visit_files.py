"""A visit's photos and voice notes: the files the helper sent while logging it.

A helper logging a visit in the chat may simply send a photo of the house or a voice note
of what they found. The conversation keeps every file as an
:class:`~intake.attachments.Attachment` of the chat; when the visit is saved, the files
sent since the household was opened and not yet filed with anything become the visit's
(:func:`attach_sent_files`), so they are not swept into the next application the same chat
files. A risk found on the visit carries them to the village's queue too.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from intake.attachments import Attachment
from intake.helpers.models import Visit, VisitAttachment

__all__ = ["attach_sent_files", "files_of", "visit_file"]


def attach_sent_files(
    session: Session, *, visit: Visit, contact_id: int | None, since: datetime, now: datetime
) -> list[Attachment]:
    """Make the chat's unfiled files sent since ``since`` the visit's; returns them."""
    if contact_id is None or visit.id is None:
        return []
    query = select(Attachment).where(
        Attachment.contact_id == contact_id,
        col(Attachment.queue_item_id).is_(None),
        col(Attachment.linked_at).is_(None),
        col(Attachment.created_at) >= since,
    )
    files = list(session.exec(query.order_by(col(Attachment.id))))
    for file in files:
        file.linked_at = now
        session.add(file)
        session.add(VisitAttachment(visit_id=visit.id, attachment_id=int(file.id or 0)))
    return files


def files_of(session: Session, visit_ids: list[int]) -> dict[int, list[Attachment]]:
    """Each visit's files, in the order they were sent."""
    if not visit_ids:
        return {}
    query = (
        select(VisitAttachment.visit_id, Attachment)
        .join(Attachment, col(Attachment.id) == col(VisitAttachment.attachment_id))
        .where(col(VisitAttachment.visit_id).in_(visit_ids))
        .order_by(col(Attachment.id))
    )
    found: dict[int, list[Attachment]] = {}
    for visit_id, file in session.exec(query):
        found.setdefault(int(visit_id), []).append(file)
    return found


def visit_file(
    session: Session, *, household_id: int, visit_id: int, attachment_id: int
) -> Attachment | None:
    """One file of one of the household's visits, or ``None`` if the three do not match."""
    query = (
        select(Attachment)
        .join(VisitAttachment, col(VisitAttachment.attachment_id) == col(Attachment.id))
        .join(Visit, col(Visit.id) == col(VisitAttachment.visit_id))
        .where(
            Attachment.id == attachment_id,
            VisitAttachment.visit_id == visit_id,
            Visit.household_id == household_id,
        )
    )
    return session.exec(query).first()
