"""The item page's data: answers, assessment, flags, masked identity, timeline, actions.

Identity: what a filing says (name, phone, size) is shown as the filing's. The household's
own details, and where they differ from the filing's, are shown only to cadres whose scope
holds the household's village; a filing from another village is flagged there and here,
and the other village learns only that the ID number is registered elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from intake import attachments
from intake.applications import Application
from intake.audit import AuditEvent, events_for, facts_of, reason_of
from intake.callbacks import CallbackRequest
from intake.crypto import FieldCipher, FieldCipherError
from intake.helpers.enrolment import helpers_for
from intake.helpers.models import Helper, HelpReview
from intake.helpers.outcomes import OUTCOMES, review_of
from intake.households import Household
from intake.identity import mask_id_number, mask_phone, normalize_phone
from intake.procedure import (
    Enrollment,
    Transition,
    available,
    enrolment_text,
    estimated_deadline_year,
)
from intake.queue import CLOSED_STATUSES, QueueItem
from intake.users import Scope, User
from intake.web.answers_view import answers_as_given, negative_answers
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.queue_view import is_overdue, notice_ended
from intake.workdays import SHANGHAI

#: The cadre's name of each review or exit outcome.
OUTCOME_NAMES = {
    "risk_eliminated": "cadre.outcome.risk_eliminated",
    "help_continues": "cadre.outcome.help_continues",
    "exit": "cadre.outcome.exit",
    "help_again": "cadre.outcome.help_again",
}


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


@dataclass(frozen=True)
class TimelineEntry:
    """One audit event as the timeline shows it (reason and free-text facts decrypted)."""

    event: AuditEvent
    actor: str
    reason: str | None
    facts: dict[str, Any]


@dataclass(frozen=True)
class Identity:
    """The filing's details against the household's, as far as the viewer may see them."""

    #: The viewer's scope holds the household's village: its details may be shown.
    home: bool = False
    #: The household is registered in another village than the one this filing came from.
    elsewhere: bool = False
    #: The household's name and masked phone (only when ``home``).
    household_name: str | None = None
    household_phone: str | None = None
    #: What the filing gives differently: ``head_name``, ``phone``, ``size`` (``home`` only).
    differences: tuple[str, ...] = ()
    #: Filings from other villages that name this household (``home`` only).
    foreign_filings: tuple[tuple[QueueItem, str], ...] = ()


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
    #: Whether ``masked_phone`` is the household's (an older filing kept no phone of its own).
    phone_is_household: bool = False
    identity: Identity = field(default_factory=Identity)
    callback_note: str | None = None
    #: The enrolment's detailed reason and measures, decrypted.
    enrolment_text: tuple[str, str] = ("", "")
    answers: list[tuple[str, Any]] = field(default_factory=list)
    #: ``(zh, en, answer)`` per negative-list question asked; answer is yes, no or unknown.
    negative: list[tuple[str, str, str]] = field(default_factory=list)
    #: A call-back's caller, named by an application the same chat filed, and that item.
    caller_name: str | None = None
    caller_item: QueueItem | None = None
    #: The step's own time limit has passed; or the public notice has run its days.
    overdue: bool = False
    notice_ended: bool = False
    timeline: list[TimelineEntry] = field(default_factory=list)
    actions: list[Transition] = field(default_factory=list)
    risk_types: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)
    #: The helpers the enrolment form offers (only when the viewer may enrol).
    helpers: list[Helper] = field(default_factory=list)
    #: A review or exit item's row (each level's outcome) and the outcomes it may reach.
    review: HelpReview | None = None
    outcomes: tuple[str, ...] = ()
    outcome_names: dict[str, str] = field(default_factory=lambda: dict(OUTCOME_NAMES))


def _safe_mask(deps: WebDeps, token: str | None, mask: Any) -> str | None:
    if not token:
        return None
    try:
        return str(mask(deps.cipher.decrypt(token)))
    except FieldCipherError:
        return "?"


def _clear(cipher: FieldCipher, stored: str | None) -> str | None:
    """A sealed free-text field in clear; ``?`` if it cannot be read with this key."""
    try:
        return cipher.unseal(stored)
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
    now = deps.clock()
    view = ItemView(
        item, deps.village_name(item.village_code), deps.township_name(item.township_code)
    )
    assert item.id is not None
    view.application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    if view.application is not None:
        _fill_application(session, deps, viewer, view, view.application)
        view.same_household = _same_household(session, viewer, view.application)
    view.callback = session.exec(
        select(CallbackRequest).where(CallbackRequest.queue_item_id == item.id)
    ).first()
    if view.callback is not None:
        view.masked_phone = _safe_mask(deps, view.callback.phone_cipher, mask_phone)
        view.callback_note = _clear(deps.cipher, view.callback.note_cipher)
        view.caller_name, view.caller_item = _caller(session, viewer, view.callback)
    view.enrollment = session.exec(
        select(Enrollment).where(Enrollment.queue_item_id == item.id)
    ).first()
    if view.enrollment is not None:
        try:
            view.enrolment_text = enrolment_text(view.enrollment, deps.cipher)
        except FieldCipherError:
            view.enrolment_text = ("?", "?")
    if item.merged_into_id is not None:
        view.merged_into = session.get(QueueItem, item.merged_into_id)
    view.timeline = _timeline(session, deps.cipher, item.id)
    view.actions = available(item, viewer.scope)
    if any("helper" in t.facts for t in view.actions):
        view.helpers = helpers_for(session, item.township_code, item.village_code)
    view.review = review_of(session, item.id)
    view.outcomes = tuple(o.value for o in OUTCOMES.get(item.kind, ()))
    view.overdue, view.notice_ended = is_overdue(item, now), notice_ended(item, now)
    view.due_estimated_year = estimated_deadline_year(item, deps.calendar)
    view.risk_types = [(rt.code, rt.name) for rt in deps.policy_of(item).risk_types]
    view.attachments = [attachment_view(deps, a) for a in attachments.for_item(session, item.id)]
    return view


def _caller(
    session: Session, viewer: Viewer, callback: CallbackRequest
) -> tuple[str | None, QueueItem | None]:
    """Who asked for the call: the name on the latest application the same chat filed.

    A call-back request carries no name of its own, and a cadre phoning back wants to
    greet the person and see their application. Only an application in the viewer's
    scope is used, so no name crosses into another village's view.
    """
    if callback.contact_id is None:
        return None, None
    query = (
        select(Application, QueueItem)
        .join(QueueItem, col(QueueItem.id) == col(Application.queue_item_id))
        .where(Application.contact_id == callback.contact_id, viewer.scope.where())
        .order_by(col(Application.submitted_at).desc(), col(Application.id).desc())
    )
    found = session.exec(query).first()
    if found is None:
        return None, None
    application, item = found
    proxy = application.proxy or {}
    return (proxy.get("applicant_name") or application.head_name), item


def _timeline(session: Session, cipher: FieldCipher, item_id: int) -> list[TimelineEntry]:
    events = events_for(session, "queue_item", item_id)
    names = _actor_names(session, events)
    entries = []
    for event in events:
        try:
            reason, facts = reason_of(event, cipher), facts_of(event, cipher)
        except FieldCipherError:
            reason, facts = "?", {}
        entries.append(TimelineEntry(event, names.get(event.actor, event.actor), reason, facts))
    return entries


def _fill_application(
    session: Session, deps: WebDeps, viewer: Viewer, view: ItemView, application: Application
) -> None:
    answers = application.answers or {}
    view.answers = answers_as_given(answers)
    view.answered_size = answers.get("household_size")
    view.negative = negative_answers(deps.policy_of(view.item), answers)
    if application.household_id is not None:
        view.household = session.get(Household, application.household_id)
    household = view.household
    if household is None:
        return
    view.masked_id = _safe_mask(deps, household.id_cipher, mask_id_number)
    view.identity = _identity(session, deps, viewer.scope, application, household)
    view.masked_phone = _safe_mask(deps, application.phone_cipher, mask_phone)
    if view.masked_phone is None and view.identity.home:
        view.masked_phone = view.identity.household_phone
        view.phone_is_household = view.masked_phone is not None


def household_is_home(deps: WebDeps, scope: Scope, household: Household) -> bool:
    """Whether ``scope`` holds the village the household is registered in."""
    for policy in deps.policies.values():
        township = policy.township_of(household.village_code)
        if township is not None:
            return scope.allows_place(policy.region.code, township.code, household.village_code)
    return False


def _identity(
    session: Session,
    deps: WebDeps,
    scope: Scope,
    application: Application,
    household: Household,
) -> Identity:
    elsewhere = application.village_code != household.village_code
    if not household_is_home(deps, scope, household):
        return Identity(elsewhere=elsewhere)
    return Identity(
        home=True,
        elsewhere=elsewhere,
        household_name=household.head_name,
        household_phone=_safe_mask(deps, household.phone_cipher, mask_phone),
        differences=differences(deps.cipher, application, household),
        foreign_filings=_foreign_filings(session, deps, household, application.queue_item_id),
    )


def differences(
    cipher: FieldCipher, application: Application, household: Household
) -> tuple[str, ...]:
    """The details in which the filing differs from the household's accepted ones."""
    found = []
    if application.head_name and application.head_name != household.head_name:
        found.append("head_name")
    try:
        given = cipher.unseal(application.phone_cipher)
        kept = cipher.unseal(household.phone_cipher)
    except FieldCipherError:
        given = kept = None
    if given and normalize_phone(given) != normalize_phone(kept or ""):
        found.append("phone")
    size = (application.answers or {}).get("household_size")
    if isinstance(size, int) and size != household.size:
        found.append("size")
    return tuple(found)


def _foreign_filings(
    session: Session, deps: WebDeps, household: Household, shown: int | None
) -> tuple[tuple[QueueItem, str], ...]:
    """Open filings for the household from villages other than its own (but ``shown``).

    The page names only their village, status and date: the item itself is that
    village's, and its tracking code would let anyone follow it.
    """
    query = (
        select(QueueItem)
        .join(Application, col(Application.queue_item_id) == col(QueueItem.id))
        .where(
            Application.household_id == household.id,
            col(Application.village_code) != household.village_code,
            col(QueueItem.id) != shown,
            col(QueueItem.status).not_in([s.value for s in CLOSED_STATUSES]),
        )
        .order_by(col(QueueItem.id))
    )
    return tuple((item, deps.village_name(item.village_code)) for item in session.exec(query))


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


def attachment_view(deps: WebDeps, row: attachments.Attachment) -> AttachmentView:
    """A kept file as a page shows it (name and caption decrypted)."""
    assert row.id is not None
    try:
        caption = attachments.caption_of(row, deps.cipher)
    except FieldCipherError:
        caption = "?"
    return AttachmentView(
        id=row.id,
        kind=row.kind,
        file_name=_clear(deps.cipher, row.file_name_cipher),
        caption=caption,
        duration_seconds=row.duration_seconds,
        size=row.size,
        needs_listening=row.needs_listening,
        created_at=row.created_at,
        openable=row.channel in deps.attachment_openers,
    )


def reveal_value(
    session: Session, deps: WebDeps, scope: Scope, item: QueueItem, what: str
) -> tuple[str | None, str]:
    """The unmasked ID number or phone, and whose it is: ``item`` or ``household``.

    ``phone`` is the number this filing (or call-back request) gave; the household's
    accepted one (``household_phone``, or ``phone`` of a filing from before the filing
    kept its own) is for cadres of the household's own village only.
    """
    callback = session.exec(
        select(CallbackRequest).where(CallbackRequest.queue_item_id == item.id)
    ).first()
    if callback is not None:
        return (deps.cipher.decrypt(callback.phone_cipher) if what == "phone" else None), "item"
    application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    household = (
        session.get(Household, application.household_id)
        if application and application.household_id
        else None
    )
    if application is None or household is None:
        return None, "item"
    if what == "id":
        return deps.cipher.decrypt(household.id_cipher), "item"
    if what == "phone" and application.phone_cipher:
        return deps.cipher.decrypt(application.phone_cipher), "item"
    if what in ("phone", "household_phone") and household_is_home(deps, scope, household):
        return deps.cipher.unseal(household.phone_cipher), "household"
    return None, "item"


def due_text(moment: datetime | None) -> str:
    """A deadline as local date and time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""
