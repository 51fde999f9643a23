"""What the cadre pages need from the composition root, handed over as one object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from intake.attachments import Attachment
from intake.crypto import FieldCipher
from intake.db import Database
from intake.logins import Throttle
from intake.notices import NoticePoster
from intake.policy import Policy
from intake.queue import QueueItem
from intake.workdays import WorkdayCalendar

#: Fetches a kept file from its channel: ``(content, mime type)``.
OpenAttachment = Callable[[Attachment], Awaitable[tuple[bytes, str | None]]]


@dataclass
class WebDeps:
    """Services of the cadre pages (built by ``bot.app``; tests build their own)."""

    db: Database
    cipher: FieldCipher
    policies: dict[str, Policy]
    calendar: WorkdayCalendar
    clock: Callable[[], datetime]
    cookie_secret: str
    cookie_secure: bool = False
    #: Writes an applicant's notice to the outbox (None: notices are not sent).
    post_notice: NoticePoster | None = None
    throttle: Throttle = field(default_factory=Throttle)
    #: Per channel (``telegram``…), how to fetch a file kept from it. A channel without
    #: one (no bot configured) gets no link on the item page: its files stay with it.
    attachment_openers: dict[str, OpenAttachment] = field(default_factory=dict)
    #: The Telegram bot's username, for helpers' deep links (None: the bare code only).
    bot_username: str | None = None

    def policy_of(self, item: QueueItem) -> Policy:
        """The policy of the item's region (the first one if the region is unknown)."""
        return self.policies.get(item.region_code) or next(iter(self.policies.values()))

    def village_name(self, code: str | None) -> str:
        """A village's name from the policies, or the code itself."""
        for policy in self.policies.values():
            village = policy.village(code) if code else None
            if village is not None:
                return village.name
        return code or ""

    def township_name(self, code: str | None) -> str:
        """A township's name from the policies, or the code itself."""
        for policy in self.policies.values():
            for township in policy.townships:
                if township.code == code:
                    return township.name
        return code or ""
