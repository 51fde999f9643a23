"""Carrying out what the engine asks for: records in intake, and the replies they produce.

Each handler runs inside the message's transaction, so an application, its queue item,
its audit event and the reply saying so are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.dialogs.self_application import assessment_answers
from bot.engine import Session as DialogState
from bot.flow import Effect, Reply, Text
from bot.own_applications import listing, own_applications
from intake.answers import parse_answers
from intake.applications import Filing, Proxy, load_draft, save_draft, submit_application
from intake.audit import events_for, reason_of
from intake.callbacks import request_callback
from intake.contacts import Contact
from intake.crypto import FieldCipher
from intake.policy import Policy
from intake.queue import ItemStatus, QueueItem, find_by_tracking_code
from intake.workdays import SHANGHAI, WorkdayCalendar


@dataclass
class Effects:
    """The services effects need, wired once by the composition root."""

    policies: dict[str, Policy]
    default_policy: Policy
    cipher: FieldCipher
    calendar: WorkdayCalendar
    new_code: Callable[[], str]

    def policy_for(self, village_code: str | None) -> Policy:
        """The policy of the region that holds ``village_code`` (default region otherwise)."""
        for policy in self.policies.values():
            if village_code and policy.village(village_code) is not None:
                return policy
        return self.default_policy

    def apply(
        self, db: Session, effect: Effect, contact: Contact, state: DialogState, now: datetime
    ) -> list[Reply]:
        """Do what ``effect`` asks; returns what to tell the person."""
        handler = getattr(self, f"_on_{effect.name}", None)
        if handler is None:
            raise LookupError(f"no handler for effect {effect.name!r}")
        replies: list[Reply] = handler(db, dict(effect.data), contact, state, now)
        return replies

    def _on_application_submitted(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        answers = data["answers"]
        village = str(answers["village"])
        policy = self.policy_for(village)
        consent = answers.get("consent_at")
        filing = Filing(
            answers=parse_answers(assessment_answers(answers)),
            village_code=village,
            head_name=str(answers["head_name"]),
            id_number=str(answers["id_number"]),
            phone=answers.get("phone"),
            consent_at=datetime.fromisoformat(consent) if consent else now,
            proxy=_proxy(answers),
            language=state.language,
        )
        done = submit_application(
            db,
            filing=filing,
            contact_id=contact.id,
            policy=policy,
            cipher=self.cipher,
            calendar=self.calendar,
            new_code=self.new_code,
            now=now,
        )
        parts: list[Text | str] = [Text("submitted.done", {"code": done.tracking_code})]
        if done.assessment.fast_track:
            parts.append(Text("submitted.fast_track"))
        parts.append(
            Text(
                "submitted.next",
                {
                    "days": done.township_review_working_days,
                    "date": done.township_decision_by,
                    "notice": done.public_notice_days,
                },
            )
        )
        parts.append(Text("submitted.more_info"))
        return [Reply(tuple(parts))]

    def _on_draft_saved(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        assert contact.id is not None
        answers = data["answers"]
        save_draft(
            db,
            contact_id=contact.id,
            state=answers,
            cipher=self.cipher,
            village_code=answers.get("village"),
            now=now,
        )
        return []

    def _on_callback_requested(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        village = state.answers.get("village") or contact.village_code
        item = request_callback(
            db,
            contact_id=contact.id,
            phone=str(data["phone"]),
            note=data.get("note"),
            context=f"{state.dialog}:{state.step}",
            village_code=village,
            policy=self.policy_for(village),
            cipher=self.cipher,
            new_code=self.new_code,
            now=now,
        )
        return [Reply((Text("callback.queued", {"code": item.tracking_code}),))]

    def _on_status_requested(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        code = str(data["code"])
        item = find_by_tracking_code(db, code)
        if item is None:
            return [Reply((Text("status.not_found", {"code": code}),))]
        local_due = item.due_at.astimezone(SHANGHAI).date() if item.due_at else None
        params: dict[str, Any] = {
            "date": local_due or "",
            "reason": _closing_reason(db, item.id, self.cipher),
        }
        lines: list[Text | str] = [
            Text("status.header", {"code": code, "kind": Text(f"status.kind.{item.kind}")}),
            Text(f"status.{ItemStatus(item.status).value}", params),
            Text("status.updated", {"date": item.updated_at.astimezone(SHANGHAI).date()}),
        ]
        return [Reply(tuple(lines))]

    def _on_applications_listed(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        """我的申请: this chat's own applications, no code needed (see bot.own_applications)."""
        assert contact.id is not None
        items = own_applications(db, contact.id)
        has_draft = load_draft(db, contact.id, self.cipher) is not None

        def reason(item: QueueItem) -> str:
            return _closing_reason(db, item.id, self.cipher)

        return [listing(items, has_draft=has_draft, reason_of=reason)]

    def _on_language_changed(
        self,
        db: Session,
        data: dict[str, Any],
        contact: Contact,
        state: DialogState,
        now: datetime,
    ) -> list[Reply]:
        contact.language = str(data["language"])
        db.add(contact)
        return []


def _proxy(answers: dict[str, Any]) -> Proxy | None:
    if answers.get("for_whom") != "proxy":
        return None
    return Proxy(
        relation=str(answers.get("proxy_relation")),
        reason=str(answers.get("proxy_reason")),
        applicant_name=answers.get("proxy_name"),
    )


def _closing_reason(db: Session, item_id: int | None, cipher: FieldCipher) -> str:
    """The reason recorded with the latest decision on the item (empty if none)."""
    if item_id is None:
        return ""
    events = events_for(db, "queue_item", item_id)
    reasons = [reason for e in events if (reason := reason_of(e, cipher))]
    return reasons[-1] if reasons else ""
