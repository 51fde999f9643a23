"""我的申请: the applications a chat filed itself, each with its state and next date.

The chat that filed an application may see it without its tracking code: the code is
for other chats, the phone and the operator. Only items filed from this very contact
are listed (``queue_item.contact_id``), so an anonymous report, which keeps no link to
its sender, never shows up here, and nobody sees another family's application.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Final

from sqlmodel import Session, col, select

from bot.flow import Reply, Text
from intake.queue import CLOSED_STATUSES, ItemKind, ItemStatus, QueueItem
from intake.workdays import SHANGHAI

#: The newest applications listed; a family rarely has more than one or two.
MAX_LISTED: Final = 5
#: States whose own text already names the date (乡镇…最迟 {date}, 公示到 {date}).
_DATED: Final = frozenset({ItemStatus.TOWNSHIP_REVIEW, ItemStatus.PUBLIC_NOTICE})


def own_applications(db: Session, contact_id: int, limit: int = MAX_LISTED) -> list[QueueItem]:
    """The contact's own applications, newest first."""
    query = (
        select(QueueItem)
        .where(QueueItem.contact_id == contact_id, QueueItem.kind == ItemKind.APPLICATION)
        .order_by(col(QueueItem.created_at).desc(), col(QueueItem.id).desc())
        .limit(limit)
    )
    return list(db.exec(query))


def listing(
    items: list[QueueItem], *, has_draft: bool, reason_of: Callable[[QueueItem], str]
) -> Reply:
    """What 我的申请 answers: each application's code, state in plain words and next date.

    ``reason_of`` gives the reason recorded with a closing decision (未纳入 says why).
    """
    if not items:
        return Reply((Text("mine.draft_only" if has_draft else "mine.none"),))
    parts: list[Text | str] = [Text("mine.header", {"count": len(items)})]
    for number, item in enumerate(items, 1):
        parts.extend(_item_lines(number, item, reason_of))
    if has_draft:
        parts.append(Text("mine.draft"))
    parts.append(Text("mine.code_hint"))
    return Reply(tuple(parts))


def _item_lines(
    number: int, item: QueueItem, reason_of: Callable[[QueueItem], str]
) -> list[Text | str]:
    status = ItemStatus(item.status)
    due = _local(item.due_at)
    filed = {"number": number, "code": item.tracking_code, "date": _local(item.created_at) or ""}
    said: list[Text | str] = [
        Text("mine.item", filed),
        Text(f"status.{status.value}", {"date": due or "", "reason": reason_of(item)}),
    ]
    if due is not None and status not in _DATED and status not in CLOSED_STATUSES:
        said.append(Text("mine.next_by", {"date": due}))
    return said


def _local(moment: datetime | None) -> date | None:
    return moment.astimezone(SHANGHAI).date() if moment else None


__all__ = ["MAX_LISTED", "listing", "own_applications"]
