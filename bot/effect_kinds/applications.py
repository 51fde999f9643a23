"""Self-applications: filing one, keeping the unfinished draft, listing one's own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.dialogs.self_application import assessment_answers
from bot.effect_kinds.lookups import closing_reason
from bot.effects import EffectCall, handles
from bot.flow import Reply, Text
from bot.own_applications import listing, own_applications
from intake.answers import parse_answers
from intake.applications import Filing, Proxy, load_draft, save_draft, submit_application
from intake.queue import QueueItem


@handles("application_submitted")
def application_submitted(call: EffectCall) -> list[Reply]:
    """File the application (household, assessment, queue item) and say what comes next."""
    answers = call.data["answers"]
    village = str(answers["village"])
    effects = call.effects
    consent = answers.get("consent_at")
    filing = Filing(
        answers=parse_answers(assessment_answers(answers)),
        village_code=village,
        head_name=str(answers["head_name"]),
        id_number=str(answers["id_number"]),
        phone=answers.get("phone"),
        consent_at=datetime.fromisoformat(consent) if consent else call.now,
        proxy=_proxy(answers),
        language=call.state.language,
    )
    done = submit_application(
        call.db,
        filing=filing,
        contact_id=call.contact.id,
        policy=effects.policy_for(village),
        cipher=effects.cipher,
        calendar=effects.calendar,
        new_code=effects.new_code,
        now=call.now,
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


@handles("draft_saved")
def draft_saved(call: EffectCall) -> list[Reply]:
    """Keep the unfinished answers (encrypted) so the person can pick them up later."""
    assert call.contact.id is not None
    answers = call.data["answers"]
    save_draft(
        call.db,
        contact_id=call.contact.id,
        state=answers,
        cipher=call.effects.cipher,
        village_code=answers.get("village"),
        now=call.now,
    )
    return []


@handles("applications_listed")
def applications_listed(call: EffectCall) -> list[Reply]:
    """我的申请: this chat's own applications, no code needed (see bot.own_applications)."""
    assert call.contact.id is not None
    cipher = call.effects.cipher
    items = own_applications(call.db, call.contact.id)
    has_draft = load_draft(call.db, call.contact.id, cipher) is not None

    def reason(item: QueueItem) -> str:
        return closing_reason(call.db, item.id, cipher)

    return [listing(items, has_draft=has_draft, reason_of=reason)]


def _proxy(answers: dict[str, Any]) -> Proxy | None:
    if answers.get("for_whom") != "proxy":
        return None
    return Proxy(
        relation=str(answers.get("proxy_relation")),
        reason=str(answers.get("proxy_reason")),
        applicant_name=answers.get("proxy_name"),
    )
