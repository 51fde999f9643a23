"""Anonymous reports from a chat: nothing kept links the report to the chat or the phone.

What an anonymous report leaves:

* the report row: no contact, no name, no phone, no ID number; dates, not times;
* its audit event: actor ``anonymous``, stamped at the start of the day
  (:func:`~intake.reports.filing.audit_time`);
* a per-chat counter for :data:`ReportRules.anonymous_per_chat_per_day`, kept under a keyed
  hash of the chat and the day and deleted when the day ends (:mod:`intake.reports.limits`);
* the chat's own messages, which the conversation hands to :func:`scrub_inbound` once it
  has answered them: sender, content, replies (which carry the tracking code) and the time
  of day are blanked, while the row itself stays so a redelivered message is still known.

The reporter follows the outcome with the tracking code alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from sqlmodel import Session

from intake.crypto import FieldCipher
from intake.policy import Policy
from intake.reports import limits
from intake.reports.filing import ReportDraft, ReportError, audit_time, file_report, local_day
from intake.reports.kinds import ReportRules
from intake.reports.models import Report
from intake.workdays import SHANGHAI, WorkdayCalendar

__all__ = [
    "SCRUBBED_SENDER",
    "InboundRow",
    "RateLimited",
    "file_from_chat",
    "scrub_inbound",
    "scrubbed_external_id",
]

#: What a scrubbed message's sender becomes.
SCRUBBED_SENDER = "scrubbed"


class RateLimited(ReportError):
    """The chat filed as many anonymous reports today as the policy allows."""


class InboundRow(Protocol):
    """The fields of a stored inbound message that can tell who sent what, and when
    (``bot.inbound.InboundMessage`` has them; intake does not import bot)."""

    channel: str
    external_id: str
    sender: str
    sequence: int | None
    payload_cipher: str
    replies: list[dict[str, Any]] | None
    received_at: datetime
    processed_at: datetime | None


def _end_of_day(now: datetime) -> datetime:
    day = local_day(now) + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def file_from_chat(
    session: Session,
    draft: ReportDraft,
    *,
    channel: str,
    sender: str,
    policy: Policy,
    rules: ReportRules,
    cipher: FieldCipher,
    calendar: WorkdayCalendar,
    new_code: Callable[[], str],
    now: datetime,
) -> Report:
    """File ``draft`` (which must be anonymous) for a chat, within the chat's daily limit.

    Raises :class:`RateLimited` past the limit: the reporter is told politely to come back
    tomorrow or to call the hotline, never silenced for good.
    """
    if draft.reporter is not None:
        raise ValueError("file_from_chat files anonymous reports; named ones use file_report")
    key = limits.counter_key(cipher, "anonymous", f"{channel}\x1f{sender}", str(local_day(now)))
    allowed = limits.take(
        session,
        key,
        limit=rules.anonymous_per_chat_per_day,
        expires_at=_end_of_day(now),
        now=now,
    )
    if not allowed:
        raise RateLimited(
            "今天匿名反映的次数已经够多了，请明天再来，或拨打热线电话。"
            " / You have sent as many anonymous reports as we take in a day; please come "
            "back tomorrow or call the hotline."
        )
    return file_report(
        session,
        draft,
        policy=policy,
        rules=rules,
        cipher=cipher,
        calendar=calendar,
        new_code=new_code,
        now=now,
    )


def scrubbed_external_id(cipher: FieldCipher, channel: str, external_id: str) -> str:
    """What a scrubbed message's id becomes: a keyed hash, since a channel's id may name
    the chat (Telegram's ``cb:<chat>:<message>``, WeChat's ``<openid>:<time>``). The store
    looks for it too, so a redelivery is still recognised."""
    return "scrubbed:" + cipher.lookup_hash(f"inbound\x1f{channel}\x1f{external_id}")


def scrub_inbound(rows: Iterable[InboundRow], cipher: FieldCipher) -> int:
    """Blank what ties these stored messages to their sender and their content.

    Call it in the transaction that filed the anonymous report, after the messages are
    marked processed, with every message of the report's dialog (the dialog's answers
    carry ``started_at``). Returns how many rows were scrubbed.
    """
    empty = cipher.encrypt(json.dumps({}))
    count = 0
    for row in rows:
        if not row.external_id.startswith("scrubbed:"):
            row.external_id = scrubbed_external_id(cipher, row.channel, row.external_id)
        row.sender = SCRUBBED_SENDER
        row.sequence = None
        row.payload_cipher = empty
        row.replies = []
        row.received_at = audit_time(row.received_at, anonymous=True)
        if row.processed_at is not None:
            row.processed_at = audit_time(row.processed_at, anonymous=True)
        count += 1
    return count
