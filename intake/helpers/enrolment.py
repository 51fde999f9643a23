"""The helper an enrolment names: picked from the place's helpers, or created there.

The county's enrolment form offers the active helpers of the household's village and
the township-wide ones; "someone new" takes a name, a phone and a work unit (驻村单位).
A plain name (older callers, and the migration of free-text names) finds the township's
helper of that name, or makes one: the same name in the same township is one person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from intake.crypto import FieldCipher
from intake.helpers.assignments import HelperError, create_helper
from intake.helpers.models import Helper, HelperState
from intake.queue import QueueItem

__all__ = ["NEW_HELPER", "HelperChoiceError", "enrolment_helper", "helpers_for"]

#: How the enrolment form names its choice of helper: an id from the place's list, or
#: :data:`NEW_HELPER` with ``helper_name`` / ``helper_phone`` / ``helper_work_unit``.
NEW_HELPER = "new"


class HelperChoiceError(ValueError):
    """The form's helper cannot be used; ``code`` and ``fact`` name the rule and field."""

    def __init__(self, code: str, fact: str, message: str) -> None:
        super().__init__(message)
        self.code, self.fact = code, fact


def helpers_for(session: Session, township: str, village: str | None) -> list[Helper]:
    """The active helpers who may help a household of ``village``: the village's own and
    the township's (no village set), by name."""
    query = (
        select(Helper)
        .where(
            Helper.township_code == township,
            Helper.state == HelperState.ACTIVE,
            (col(Helper.village_code) == village) | col(Helper.village_code).is_(None),
        )
        .order_by(col(Helper.name), col(Helper.id))
    )
    return list(session.exec(query))


def _text(facts: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = facts.get(name)
    text = str(value).strip() if value is not None else ""
    return text[:limit] if text else None


def enrolment_helper(
    session: Session,
    cipher: FieldCipher,
    item: QueueItem,
    facts: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
) -> Helper:
    """The helper the enrolment form names for ``item``'s household (created if new)."""
    raw = _text(facts, "helper", 64)
    if raw is None:
        raise HelperChoiceError("missing_fact", "helper", "helper is required")
    here = helpers_for(session, item.township_code, item.village_code)
    if raw.isdigit():
        found = next((h for h in here if h.id == int(raw)), None)
        if found is None:
            raise HelperChoiceError("bad_helper", "helper", f"no helper {raw} here")
        return found
    new = raw == NEW_HELPER
    name = _text(facts, "helper_name", 64) if new else raw
    if name is None:
        raise HelperChoiceError("missing_fact", "helper_name", "helper_name is required")
    same = [h for h in here if h.name == name]
    if same and not new:
        return same[0]
    try:
        return create_helper(
            session,
            cipher,
            name=name,
            phone=_text(facts, "helper_phone", 32) if new else None,
            region_code=item.region_code,
            township_code=item.township_code,
            village_code=item.village_code,
            work_unit=_text(facts, "helper_work_unit", 128) if new else None,
            actor=actor,
            now=now,
        )
    except HelperError as error:
        raise HelperChoiceError("bad_helper", "helper_phone", str(error)) from None
