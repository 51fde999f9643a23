"""The item page's data: answers, assessment, flags, masked identity, timeline, actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from intake import attachments
from intake.applications import Application
from intake.audit import AuditEvent, events_for
from intake.callbacks import CallbackRequest
from intake.crypto import FieldCipherError
from intake.households import Household
from intake.identity import mask_id_number, mask_phone
from intake.procedure import Enrollment, Transition, available, estimated_deadline_year
from intake.queue import CLOSED_STATUSES, QueueItem
from intake.users import User
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.workdays import SHANGHAI

#: The answers shown on the item page, in the dialog's order.
ANSWER_FIELDS = (
    "household_size",
    "annual_income_yuan",
    "previous_year_income_yuan",
    "medical_out_of_pocket_yuan",
    "disaster_loss_ratio",
    "disaster_loss_yuan",
    "main_labourer_incapacitated",
    "only_house_destroyed",
    "can_rebuild",
    "education_expense_yuan",
    "unemployed_months",
    "business_failed",
    "debts_yuan",
)


@dataclass(frozen=True)
class AttachmentView:
    """One file filed with the item, as the page shows it (caption decrypted)."""

    id: int
    kind: str
    file_name: str | None
    caption: str | None
    duration_seconds: int | None
    size: int | None
    needs_listening: bool
    created_at: datetime
    #: Whether the page links to the file itself (the channel can fetch it).
    openable: bool

    @property
    def duration(self) -> str:
        """The voice note's length as ``m:ss`` (empty if unknown)."""
        if self.duration_seconds is None:
            return ""
        minutes, seconds = divmod(max(0, self.duration_seconds), 60)
        return f"{minutes}:{seconds:02d}"


@dataclass
class ItemView:
    """Everything the item page shows."""

    item: QueueItem
    village_name: str
    township_name: str
    application: Application | None = None
    household: Household | None = None
    callback: CallbackRequest | None = None
    enrollment: Enrollment | None = None
    merged_into: QueueItem | None = None
    #: The year whose holidays the deadline was counted without (an estimate), if any.
    due_estimated_year: int | None = None
    #: The household size the application itself gave (the household row holds the latest).
    answered_size: Any = None
    #: Other open items of the same household in the viewer's scope (likely duplicates).
    same_household: list[QueueItem] = field(default_factory=list)
    masked_id: str | None = None
    masked_phone: str | None = None
    answers: list[tuple[str, Any]] = field(default_factory=list)
    negative: list[tuple[str, str, bool]] = field(default_factory=list)
    timeline: list[tuple[AuditEvent, str]] = field(default_factory=list)
    actions: list[Transition] = field(default_factory=list)
    risk_types: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)


def _safe_mask(deps: WebDeps, token: str | None, mask: Any) -> str | None:
    if not token:
        return None
    try:
        return str(mask(deps.cipher.decrypt(token)))
    except FieldCipherError:
        return "?"


def _actor_names(session: Session, events: list[AuditEvent]) -> dict[str, str]:
    ids = {int(e.actor.split(":", 1)[1]) for e in events if e.actor.startswith("user:")}
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(ids)))
    return {f"user:{u.id}": u.display_name for u in users}


def load_item_view(session: Session, deps: WebDeps, viewer: Viewer, item: QueueItem) -> ItemView:
    """Gather the item page of ``item`` (the caller has checked the scope)."""
    view = ItemView(
        item, deps.village_name(item.village_code), deps.township_name(item.township_code)
    )
    assert item.id is not None
    view.application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    if view.application is not None:
        _fill_application(session, deps, view, view.application)
        view.same_household = _same_household(session, viewer, view.application)
    view.callback = session.exec(
        select(CallbackRequest).where(CallbackRequest.queue_item_id == item.id)
    ).first()
    if view.callback is not None:
        view.masked_phone = _safe_mask(deps, view.callback.phone_cipher, mask_phone)
    view.enrollment = session.exec(
        select(Enrollment).where(Enrollment.queue_item_id == item.id)
    ).first()
    if item.merged_into_id is not None:
        view.merged_into = session.get(QueueItem, item.merged_into_id)
    events = events_for(session, "queue_item", item.id)
    names = _actor_names(session, events)
    view.timeline = [(event, names.get(event.actor, event.actor)) for event in events]
    view.actions = available(item, viewer.scope)
    view.due_estimated_year = estimated_deadline_year(item, deps.calendar)
    view.risk_types = [(rt.code, rt.name) for rt in deps.policy_of(item).risk_types]
    view.attachments = [_attachment(deps, a) for a in attachments.for_item(session, item.id)]
    return view


def _fill_application(
    session: Session, deps: WebDeps, view: ItemView, application: Application
) -> None:
    answers = application.answers or {}
    view.answers = [(name, answers[name]) for name in ANSWER_FIELDS if name in answers]
    view.answered_size = answers.get("household_size")
    policy = deps.policy_of(view.item)
    for key, value in (answers.get("negative") or {}).items():
        entry = policy.negative_item(key)
        view.negative.append((entry.zh if entry else key, entry.en if entry else key, bool(value)))
    if application.household_id is not None:
        view.household = session.get(Household, application.household_id)
    if view.household is not None:
        view.masked_id = _safe_mask(deps, view.household.id_cipher, mask_id_number)
        view.masked_phone = _safe_mask(deps, view.household.phone_cipher, mask_phone)


def _same_household(session: Session, viewer: Viewer, application: Application) -> list[QueueItem]:
    """The household's other open items the viewer may see, oldest first."""
    if application.household_id is None:
        return []
    query = (
        select(QueueItem)
        .join(Application, col(Application.queue_item_id) == col(QueueItem.id))
        .where(
            Application.household_id == application.household_id,
            col(QueueItem.id) != application.queue_item_id,
            col(QueueItem.status).not_in([s.value for s in CLOSED_STATUSES]),
            viewer.scope.where(),
        )
        .order_by(col(QueueItem.id))
    )
    return list(session.exec(query))


def _attachment(deps: WebDeps, row: attachments.Attachment) -> AttachmentView:
    assert row.id is not None
    try:
        caption = attachments.caption_of(row, deps.cipher)
    except FieldCipherError:
        caption = "?"
    return AttachmentView(
        id=row.id,
        kind=row.kind,
        file_name=row.file_name,
        caption=caption,
        duration_seconds=row.duration_seconds,
        size=row.size,
        needs_listening=row.needs_listening,
        created_at=row.created_at,
        openable=row.channel in deps.attachment_openers,
    )


def reveal_value(session: Session, deps: WebDeps, item: QueueItem, what: str) -> str | None:
    """The unmasked ID number or phone of the item's household (None if there is none)."""
    token: str | None = None
    application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    household = (
        session.get(Household, application.household_id)
        if application and application.household_id
        else None
    )
    if what == "id" and household is not None:
        token = household.id_cipher
    elif what == "phone":
        callback = session.exec(
            select(CallbackRequest).where(CallbackRequest.queue_item_id == item.id)
        ).first()
        token = callback.phone_cipher if callback else household.phone_cipher if household else None
    return deps.cipher.decrypt(token) if token else None


def due_text(moment: datetime | None) -> str:
    """A deadline as local date and time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""
