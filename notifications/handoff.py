"""Replies handed straight to the dispatcher: written claimed, sent without a claim query.

A reply to someone typing is written in the message's own transaction. When this process
runs the channel's dispatch loop and nothing else of the recipient is in the outbox, the
rows are written already ``claimed`` by that loop's worker, with a lease, and handed to the
loop after the commit (:meth:`~notifications.dispatcher.Dispatcher.offer`): no claim
statement and no wake-up per message. Everything else is the claim's rules:
:func:`~notifications.claims.mark_sending_many` still checks the recipient's order, the
heartbeat renews the rows while they are held, and rows never handed over (the process
died between the commit and the hand-off) are given back when their lease lapses or at the
next start, exactly like claimed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from notifications.outbox import OutboxMessage


@dataclass(frozen=True)
class HandOff:
    """Who the rows are written claimed for, and until when the claim holds."""

    worker: str
    lease_until: datetime


class Taker(Protocol):
    """The dispatcher as the conversation service sees it."""

    def handoff(self, channel: str) -> HandOff | None:
        """A claim for new rows of ``channel``, if its loop runs in this process."""

    def offer(self, channel: str, rows: Sequence[OutboxMessage]) -> None:
        """Take rows written with :meth:`handoff`'s claim (on the event loop)."""
