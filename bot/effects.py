"""Carrying out what the engine asks for: records in intake, and the replies they produce.

Each effect kind registers its handler by name (:func:`handles`), in a small module of
:mod:`bot.effect_kinds`, the way goflow's actions register themselves: this module knows
no dialog and no kind, and a new kind is a new module, not an edit here. The composition
root imports :mod:`bot.effect_kinds` once, which fills :data:`HANDLERS`.

Each handler runs inside the message's transaction, so an application, its queue item,
its audit event and the reply saying so are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.engine import Session as DialogState
from bot.flow import Effect, Reply
from intake.contacts import Contact
from intake.crypto import FieldCipher
from intake.policy import Policy
from intake.workdays import WorkdayCalendar


@dataclass(frozen=True)
class EffectCall:
    """Everything a handler is given: the effect's data and where it happens."""

    effects: Effects
    db: Session
    data: dict[str, Any]
    contact: Contact
    state: DialogState
    now: datetime


#: A handler: what to tell the person once the effect is carried out.
Handler = Callable[[EffectCall], list[Reply]]
#: Effect name -> handler, filled by :func:`handles` as :mod:`bot.effect_kinds` loads.
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of effects named ``name``.

    Two handlers for one name is a mistake made at import time, so it fails there.
    """

    def register(handler: Handler) -> Handler:
        if name in HANDLERS and HANDLERS[name] is not handler:
            raise ValueError(f"effect {name!r} already has a handler")
        HANDLERS[name] = handler
        return handler

    return register


@dataclass
class Effects:
    """The services effects need, wired once by the composition root."""

    policies: dict[str, Policy]
    default_policy: Policy
    cipher: FieldCipher
    calendar: WorkdayCalendar
    new_code: Callable[[], str]
    #: The registry looked in; the global one unless a test gives its own.
    handlers: Mapping[str, Handler] = field(default_factory=lambda: HANDLERS)

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
        handler = self.handlers.get(effect.name)
        if handler is None:
            raise LookupError(f"no handler for effect {effect.name!r}")
        return handler(EffectCall(self, db, dict(effect.data), contact, state, now))
