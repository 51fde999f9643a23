"""Looking an item up by its tracking code: where it stands, and why it was closed."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.effect_kinds.reports import report_status
from bot.effects import EffectCall, handles
from bot.flow import Reply, Text
from intake.audit import events_for, reason_of
from intake.crypto import FieldCipher
from intake.queue import ItemStatus, find_by_tracking_code
from intake.workdays import SHANGHAI


@handles("status_requested")
def status_requested(call: EffectCall) -> list[Reply]:
    """查进度: the item's kind, state, due date and latest reason, by its code.

    A code that names no queue item may name a report (tips, complaints…), which tells
    each asker only what they may know (:func:`bot.effect_kinds.reports.report_status`).
    """
    code = str(call.data["code"])
    item = find_by_tracking_code(call.db, code)
    if item is None:
        return report_status(call, code, call.data.get("id_ending"))
    local_due = item.due_at.astimezone(SHANGHAI).date() if item.due_at else None
    params: dict[str, Any] = {
        "date": local_due or "",
        "reason": closing_reason(call.db, item.id, call.effects.cipher),
    }
    lines: list[Text | str] = [
        Text("status.header", {"code": code, "kind": Text(f"status.kind.{item.kind}")}),
        Text(f"status.{ItemStatus(item.status).value}", params),
        Text("status.updated", {"date": item.updated_at.astimezone(SHANGHAI).date()}),
    ]
    return [Reply(tuple(lines))]


def closing_reason(db: Session, item_id: int | None, cipher: FieldCipher) -> str:
    """The reason recorded with the latest decision on the item (empty if none)."""
    if item_id is None:
        return ""
    events = events_for(db, "queue_item", item_id)
    reasons = [reason for e in events if (reason := reason_of(e, cipher))]
    return reasons[-1] if reasons else ""
