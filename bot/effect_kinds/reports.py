"""Reports by chat: filing one (anonymous or named), its status by code, the one objection.

``report_filed`` files what the report dialog collected: an anonymous report through
:func:`intake.reports.anonymity.file_from_chat` (the chat's daily limit; past it a polite
refusal), a named one through :func:`intake.reports.filing.file_report` with the contact
as reporter (phone and ID number encrypted there). The reporter is told the tracking code,
who handles it, and by when - marked estimated where the calendar lacks the year.

An anonymous report must leave nothing linking it to the chat. The handler cannot scrub
the message it is answering (its replies are written after it), so it asks:
:func:`request_scrub` notes the chat and the moment the dialog opened in the transaction,
and the conversation calls :func:`forget_if_asked` once the message is answered and its
replies queued. That scrubs the chat's messages since then (sender, id, content, replies,
time of day), marks the outbox rows written since then to be blanked once sent, and
detaches any file the chat sent meanwhile from the chat. Looking up or objecting to an
anonymous report by code is scrubbed the same way: the code typed is itself a link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from bot import inbound
from bot.dialogs.menu import FOLLOW_UPS, OBJECT, REPORT_OFFER, VERIFY
from bot.effects import EffectCall, Effects, handles
from bot.engine import MENU_CHOICES
from bot.flow import Button, Reply, Text
from bot.state import MENU
from intake import audit
from intake.attachments import Attachment
from intake.contacts import find_contact
from intake.crypto import FieldCipher
from intake.policy import Policy, PolicyError
from intake.reports.anonymity import (
    RateLimited,
    file_from_chat,
    scrub_inbound,
    scrubbed_external_id,
)
from intake.reports.filing import ReportDraft, Reporter, ReportError, audit_time, file_report
from intake.reports.kinds import ReportRules, report_rules
from intake.reports.lookup import Asker, Outcome, StatusView, lookup
from intake.reports.models import Report, ReportSource, ReportState, find_report, source_of
from intake.reports.procedure import ProcedureError, object_to
from notifications.outbox import forget_once_settled

__all__ = ["forget_if_asked", "report_filed", "report_objected", "report_status", "request_scrub"]

#: ``Session.info`` key: ``{(channel, sender): since}`` of chats to scrub after answering.
SCRUB = "reports.scrub_since"
_WHO_BY_SUBJECT = {
    "cadre": "report.who.township_not_village",
    "committee": "report.who.township_not_village",
    "township": "report.who.county",
}
_WHO_BY_LEVEL = {
    "village": "report.who.village",
    "township": "report.who.township",
    "county": "report.who.county_level",
}
_KIND_NAMES = {
    "tip": "report.kind_name.tip",
    "report": "report.kind_name.report",
    "complaint": "report.kind_name.complaint",
    "inquiry": "report.kind_name.inquiry",
    "suggestion": "report.kind_name.suggestion",
}
_DETAIL = {
    ReportState.ANSWERED: "report.detail.answer",
    ReportState.CLOSED: "report.detail.answer",
    ReportState.REFERRED: "report.detail.referred",
    ReportState.UNFOUNDED: "report.detail.unfounded",
}


# ------------------------------------------------------------------ forgetting the chat


def request_scrub(db: Session, channel: str, sender: str, since: datetime) -> None:
    """Ask that the chat's messages since ``since`` be scrubbed once this one is answered."""
    asked: dict[tuple[str, str], datetime] = db.info.setdefault(SCRUB, {})
    earlier = asked.get((channel, sender))
    asked[(channel, sender)] = since if earlier is None else min(earlier, since)


def forget_if_asked(db: Session, row: inbound.InboundMessage, cipher: FieldCipher) -> int:
    """Scrub what :func:`request_scrub` asked for this message's chat; returns the count
    of messages scrubbed (0 when nothing was asked).

    Only answered messages are touched: one still waiting keeps its content to be
    answered. Runs last in the message's transaction, after its replies are queued.
    """
    since = db.info.get(SCRUB, {}).pop((row.channel, row.sender), None)
    if since is None:
        return 0
    answered = (inbound.InboundStatus.PROCESSED, inbound.InboundStatus.FAILED)
    query = select(inbound.InboundMessage).where(
        inbound.InboundMessage.channel == row.channel,
        inbound.InboundMessage.sender == row.sender,
        col(inbound.InboundMessage.status).in_(answered),
        or_(
            col(inbound.InboundMessage.received_at) >= since,
            col(inbound.InboundMessage.processed_at) >= since,
        ),
    )
    rows = {r.id: r for r in db.exec(query)}
    rows[row.id] = row
    forget_once_settled(db, channel=row.channel, recipient=row.sender, since=since)
    contact = find_contact(db, row.channel, row.sender)
    if contact is not None:
        _detach_files(db, contact.id, since, cipher)
    return scrub_inbound(rows.values(), cipher)


def _detach_files(
    db: Session, contact_id: int | None, since: datetime, cipher: FieldCipher
) -> None:
    """Files the chat sent during the anonymous dialog: kept, but no longer the chat's
    (nor attached to the next application it files)."""
    query = select(Attachment).where(
        Attachment.contact_id == contact_id,
        col(Attachment.queue_item_id).is_(None),
        col(Attachment.created_at) >= since,
    )
    for file in db.exec(query):
        file.contact_id = None
        file.external_id = scrubbed_external_id(cipher, file.channel, file.external_id)
        file.created_at = audit_time(file.created_at, anonymous=True)
        db.add(file)


# ------------------------------------------------------------------ filing


def _rules(policy: Policy) -> ReportRules | None:
    try:
        return report_rules(policy)
    except PolicyError:
        return None


def _said(error: Exception, language: str) -> str:
    """The half of a bilingual ``"中文 / English"`` refusal in the person's language."""
    zh, _, en = str(error).partition(" / ")
    return en if language == "en" and en else zh


def _draft(data: dict[str, Any], channel: str, contact_id: int | None) -> ReportDraft:
    source = source_of(channel)
    if source is not ReportSource.CHAT:
        contact_id = None  # an operator's call: the caller is reached by phone, not this chat
    reporter = None
    if not data.get("anonymous", True):
        reporter = Reporter(
            name=str(data.get("name") or ""),
            phone=str(data.get("phone") or ""),
            id_number=data.get("id_number") or None,
            contact_id=contact_id,
            callback_consent=bool(data.get("callback_consent")),
        )
    return ReportDraft(
        kind=str(data.get("kind")),
        village_code=data.get("village"),
        subject=str(data.get("subject")),
        text=str(data.get("text") or ""),
        subject_name=data.get("subject_name") or None,
        village_told=bool(data.get("village_told", True)),
        source=source,
        reporter=reporter,
    )


def _since(data: dict[str, Any], now: datetime) -> datetime:
    try:
        started = datetime.fromisoformat(str(data.get("started_at")))
    except ValueError:
        return now
    return min(started, now) if started.tzinfo is not None else now


@handles("report_filed")
def report_filed(call: EffectCall) -> list[Reply]:
    """File the report and tell the reporter its code, who handles it and by when."""
    data, effects, contact = call.data, call.effects, call.contact
    policy = effects.policy_for(data.get("village"))
    rules = _rules(policy)
    if rules is None:
        return [Reply((Text("report.unavailable"),))]
    draft = _draft(data, contact.channel, contact.id)
    try:
        with call.db.begin_nested():  # a refusal leaves nothing half-written
            report = _file(call, draft, policy, rules)
    except RateLimited:
        return [Reply((_rate_limited(policy),))]
    except ReportError as error:
        return [Reply((Text("report.refused", {"reason": _said(error, call.state.language)}),))]
    if draft.reporter is None:
        request_scrub(call.db, contact.channel, contact.external_id, _since(data, call.now))
    return [_filed(report, data)]


def _file(call: EffectCall, draft: ReportDraft, policy: Policy, rules: ReportRules) -> Report:
    effects = call.effects
    common: dict[str, Any] = {
        "policy": policy,
        "rules": rules,
        "cipher": effects.cipher,
        "calendar": effects.calendar,
        "new_code": effects.new_code,
        "now": call.now,
    }
    if draft.reporter is None:
        return file_from_chat(
            call.db,
            draft,
            channel=call.contact.channel,
            sender=call.contact.external_id,
            **common,
        )
    return file_report(call.db, draft, **common)


def _rate_limited(policy: Policy) -> Text:
    hotline = policy.region.hotline
    if hotline:
        return Text("report.rate_limited_hotline", {"hotline": hotline})
    return Text("report.rate_limited")


def _who(report: Report) -> Text:
    key = _WHO_BY_SUBJECT.get(report.subject_kind) or _WHO_BY_LEVEL[report.routed_level]
    return Text(key)


def _filed(report: Report, data: dict[str, Any]) -> Reply:
    parts: list[Text | str] = [
        Text("report.filed", {"code": report.tracking_code}),
        Text("report.filed.who", {"who": _who(report)}),
        Text(
            "report.filed.next",
            {"first": report.first_response_due, "answer": report.answer_due},
        ),
    ]
    if report.due_estimated:
        parts.append(Text("report.estimated"))
    if report.anonymous:
        parts.append(Text("report.filed.anonymous"))
    else:
        parts.append(Text("report.filed.named"))
        if data.get("callback_consent"):
            parts.append(Text("report.filed.callback"))
    return Reply(tuple(parts))


# ------------------------------------------------------------------ status and objection


def _policy_of(effects: Effects, report: Report | None) -> Policy:
    if report is not None:
        for policy in effects.policies.values():
            if policy.region.code == report.region_code:
                return policy
    return effects.default_policy


def report_status(call: EffectCall, code: str, id_ending: str | None = None) -> list[Reply]:
    """查进度 for a report: what this chat may know (see :mod:`intake.reports.lookup`)."""
    effects, contact = call.effects, call.contact
    report = find_report(call.db, code)
    rules = _rules(_policy_of(effects, report))
    if rules is None:
        return [Reply((Text("report.unavailable"),))]
    found = lookup(
        call.db,
        code,
        asker=Asker(contact.channel, contact.external_id, contact.id),
        rules=rules,
        cipher=effects.cipher,
        now=call.now,
        id_ending=id_ending,
    )
    if found.outcome is Outcome.THROTTLED:
        return [Reply((Text("report.lookup.throttled"),))]
    if found.outcome is Outcome.NOT_FOUND or found.view is None or report is None:
        return [Reply((Text("status.not_found", {"code": code}),))]
    if report.anonymous:  # the code typed ties the chat to the report: forget it
        request_scrub(call.db, contact.channel, contact.external_id, call.now)
    return [_status_reply(call, found.view, report, id_ending)]


def _status_reply(
    call: EffectCall, view: StatusView, report: Report, id_ending: str | None
) -> Reply:
    kind = Text(_KIND_NAMES[view.kind])
    parts: list[Text | str] = [
        Text("status.header", {"code": view.code, "kind": kind}),
        Text(view.state_text),
        Text(view.next_text, view.next_params),
    ]
    if view.estimated:
        parts.append(Text("report.estimated"))
    if view.detail and view.state in _DETAIL:
        parts.append(Text(_DETAIL[view.state], {"text": view.detail}))
    if view.id_refused:
        parts.append(Text("report.lookup.id_refused"))
    elif id_ending and view.full:
        parts.append(Text("report.lookup.verified"))
    at_menu = call.state.dialog == MENU and call.state.step == MENU_CHOICES
    offer: dict[str, Any] = {}
    if view.verifiable:
        parts.append(Text("report.lookup.reporter_only" if at_menu else "report.lookup.private"))
        offer = {"code": view.code, VERIFY: True}
    elif view.objection_until is not None:
        parts.append(Text("report.lookup.may_object", {"date": view.objection_until}))
        # An anonymous report's code is not kept in the session: the follow-up asks it.
        offer = {OBJECT: True} if report.anonymous else {"code": view.code, OBJECT: True}
        if id_ending and not report.anonymous:
            offer["id_ending"] = id_ending
    if not offer or not at_menu:
        return Reply(tuple(parts))
    call.state.answers[REPORT_OFFER] = offer
    value = VERIFY if offer.get(VERIFY) else OBJECT
    button = Button(Text(FOLLOW_UPS[value]), f"{MENU_CHOICES}:{value}")
    return Reply(tuple(parts), (button,))


@handles("report_objected")
def report_objected(call: EffectCall) -> list[Reply]:
    """The reporter's one objection: checked again, then the report reopens a level up."""
    code, effects, contact = str(call.data["code"]), call.effects, call.contact
    report = find_report(call.db, code)
    rules = _rules(_policy_of(effects, report))
    if report is None or rules is None:
        return [Reply((Text("status.not_found", {"code": code}),))]
    if report.anonymous:
        request_scrub(call.db, contact.channel, contact.external_id, _since(call.data, call.now))
    found = lookup(
        call.db,
        code,
        asker=Asker(contact.channel, contact.external_id, contact.id),
        rules=rules,
        cipher=effects.cipher,
        now=call.now,
        id_ending=call.data.get("id_ending"),
    )
    if found.outcome is Outcome.THROTTLED:
        return [Reply((Text("report.lookup.throttled"),))]
    if found.view is None or not found.view.full:
        return [Reply((Text("report.objection.not_yours"),))]
    try:
        with call.db.begin_nested():
            object_to(
                call.db,
                report,
                reason=str(call.data.get("reason") or ""),
                rules=rules,
                calendar=effects.calendar,
                cipher=effects.cipher,
                now=call.now,
                actor=audit.contact_actor(None if report.anonymous else contact.id),
            )
    except ProcedureError as error:
        return [Reply((Text("report.refused", {"reason": _said(error, call.state.language)}),))]
    who = Text(_WHO_BY_LEVEL[report.routed_level])
    parts: list[Text | str] = [
        Text("report.objection.done", {"code": report.tracking_code, "who": who}),
        Text(
            "report.filed.next",
            {"first": report.first_response_due, "answer": report.answer_due},
        ),
    ]
    if report.due_estimated:
        parts.append(Text("report.estimated"))
    return [Reply(tuple(parts))]
