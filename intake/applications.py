"""Self-applications (农户主动申请): drafts, submission, and what the family is told next.

Submitting writes, in one transaction: the household (matched by the keyed hash of the
head's ID number, or created), the application with its answers, assessment and consent
time, a queue item for the village with a tracking code, and an audit event. Nothing
personal goes into the audit data; the ID number and phone are stored only encrypted.

The name and phone a filing gives are the filing's own (``head_name``, ``phone_cipher``):
an existing household keeps its accepted details until a cadre of its own village takes
the filing's (``intake.households.accept_details``), since anyone may type an ID number.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Field, Session, SQLModel, select

from intake import audit
from intake.answers import Answers
from intake.assessment import Assessment, assess
from intake.columns import json_column, utc_column, utcnow
from intake.crypto import FieldCipher
from intake.households import upsert_household
from intake.policy import Policy
from intake.queue import ItemKind, ItemStatus, QueueItem, allocate_tracking_code
from intake.workdays import WorkdayCalendar

CHINA = ZoneInfo("Asia/Shanghai")


class Application(SQLModel, table=True):
    """One self-application, from draft to submission."""

    __tablename__ = "application"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="draft", max_length=16, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    queue_item_id: int | None = Field(default=None, foreign_key="queue_item.id", unique=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    village_code: str | None = Field(default=None, max_length=64)
    #: The name and phone this filing gave (the household's may differ). Migration 0004.
    head_name: str | None = Field(default=None, max_length=64)
    phone_cipher: str | None = Field(default=None, max_length=512)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    assessment: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    proxy: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    #: A draft's whole dialog state, encrypted (it may hold the ID number and phone).
    draft_cipher: str | None = Field(default=None)
    consent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    policy_version: str | None = Field(default=None, max_length=64)
    language: str = Field(default="zh_CN", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    submitted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


@dataclass(frozen=True)
class Proxy:
    """Who files for the household, when it is not the household itself (代办)."""

    relation: str
    reason: str
    applicant_name: str | None = None


@dataclass(frozen=True)
class Filing:
    """Everything the dialog collected, in the shape intake needs."""

    answers: Answers
    village_code: str
    head_name: str
    id_number: str
    phone: str | None
    consent_at: datetime
    proxy: Proxy | None = None
    language: str = "zh_CN"


@dataclass(frozen=True)
class Submitted:
    """What the family is told after submitting."""

    tracking_code: str
    application_id: int
    queue_item_id: int
    assessment: Assessment
    #: The township's latest decision date if the village reports today.
    township_decision_by: date
    public_notice_days: int
    township_review_working_days: int


def submit_application(
    session: Session,
    *,
    filing: Filing,
    contact_id: int | None,
    policy: Policy,
    cipher: FieldCipher,
    calendar: WorkdayCalendar,
    new_code: Callable[[], str],
    now: datetime,
) -> Submitted:
    """Record a complete, consented application and put it in the village's queue."""
    township = policy.township_of(filing.village_code)
    if township is None:
        raise ValueError(f"village {filing.village_code!r} is not in policy {policy.region.code}")
    assessment = assess(filing.answers, policy, year=now.astimezone(CHINA).year)
    household, created = upsert_household(
        session,
        cipher,
        id_number=filing.id_number,
        head_name=filing.head_name,
        village_code=filing.village_code,
        size=filing.answers.household_size,
        phone=filing.phone,
        now=now,
    )
    item = QueueItem(
        kind=ItemKind.APPLICATION,
        status=ItemStatus.SUBMITTED,
        tracking_code=allocate_tracking_code(session, new_code),
        region_code=policy.region.code,
        township_code=township.code,
        village_code=filing.village_code,
        fast_track=assessment.fast_track,
        contact_id=contact_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    application = _draft_of(session, contact_id) or Application()
    application.status = "submitted"
    application.contact_id = contact_id
    application.queue_item_id = item.id
    application.household_id = household.id
    application.village_code = filing.village_code
    application.head_name = filing.head_name
    application.phone_cipher = cipher.seal(filing.phone)
    application.answers = filing.answers.to_json()
    application.assessment = assessment.to_json()
    application.proxy = _proxy_json(filing.proxy)
    application.draft_cipher = None
    application.consent_at = filing.consent_at
    application.policy_version = policy.version
    application.language = filing.language
    application.submitted_at = now
    session.add(application)
    session.flush()
    assert item.id is not None and application.id is not None
    audit.record(
        session,
        actor=audit.contact_actor(contact_id),
        action="application.submitted",
        subject_kind="queue_item",
        subject_id=item.id,
        at=now,
        data={
            "application_id": application.id,
            "criteria_met": assessment.criteria_met,
            "negative_flags": assessment.negative_flags,
            "fast_track": assessment.fast_track,
            "proxy": filing.proxy is not None,
            "consent_at": filing.consent_at.isoformat(),
            "known_household": not created,
            "household_elsewhere": household.village_code != filing.village_code,
        },
    )
    limits = policy.time_limits
    local_today = now.astimezone(CHINA).date()
    return Submitted(
        tracking_code=item.tracking_code,
        application_id=application.id,
        queue_item_id=item.id,
        assessment=assessment,
        township_decision_by=calendar.add_working_days(
            local_today, limits.township_review_working_days
        ),
        public_notice_days=limits.public_notice_days,
        township_review_working_days=limits.township_review_working_days,
    )


def save_draft(
    session: Session,
    *,
    contact_id: int,
    state: dict[str, Any],
    cipher: FieldCipher,
    village_code: str | None,
    now: datetime,
) -> Application:
    """Keep an unconsented application so the family can come back to it."""
    draft = _draft_of(session, contact_id) or Application(contact_id=contact_id, created_at=now)
    draft.draft_cipher = cipher.encrypt(json.dumps(state, ensure_ascii=False))
    draft.village_code = village_code
    session.add(draft)
    session.flush()
    assert draft.id is not None
    audit.record(
        session,
        actor=audit.contact_actor(contact_id),
        action="application.draft_saved",
        subject_kind="application",
        subject_id=draft.id,
        at=now,
    )
    return draft


def load_draft(session: Session, contact_id: int, cipher: FieldCipher) -> dict[str, Any] | None:
    """The dialog state of the contact's draft, if one is waiting."""
    draft = _draft_of(session, contact_id)
    if draft is None or draft.draft_cipher is None:
        return None
    state = json.loads(cipher.decrypt(draft.draft_cipher))
    return state if isinstance(state, dict) else None


def _draft_of(session: Session, contact_id: int | None) -> Application | None:
    if contact_id is None:
        return None
    query = select(Application).where(
        Application.contact_id == contact_id, Application.status == "draft"
    )
    return session.exec(query).first()


def _proxy_json(proxy: Proxy | None) -> dict[str, Any] | None:
    if proxy is None:
        return None
    return {
        "relation": proxy.relation,
        "reason": proxy.reason,
        "applicant_name": proxy.applicant_name,
    }
