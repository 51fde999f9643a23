"""What the cadre pages need from the composition root, handed over as one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import inspect

from intake.crypto import FieldCipher
from intake.db import Database
from intake.notices import NoticePoster
from intake.policy import Policy
from intake.queue import QueueItem
from intake.users import Throttle
from intake.workdays import WorkdayCalendar


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
    _tables: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def columns(self, table: str) -> frozenset[str]:
        """The columns of ``table`` (empty if there is no such table); asked once per table,
        since migrations run before the app starts."""
        if table not in self._tables:
            inspector = inspect(self.db.engine)
            found = inspector.get_columns(table) if inspector.has_table(table) else []
            self._tables[table] = frozenset(str(c["name"]) for c in found)
        return self._tables[table]

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
