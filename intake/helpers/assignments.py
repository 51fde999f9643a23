"""Helpers as people and who helps which household; every change of helper is recorded.

A household has at most one current helper (the database refuses a second current row);
changing it ends the current row and starts a new one in the same transaction, and writes
an audit event with the actor, the time and the reason, so the village can always answer
"who helped this family in March, and why did that change?".
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from intake import audit
from intake.crypto import FieldCipher
from intake.helpers.models import Helper, HelperAssignment, HelperState
from intake.identity import normalize_phone

__all__ = [
    "HelperError",
    "assign_helper",
    "change_helper",
    "create_helper",
    "current_assignment",
    "find_helper_by_phone",
    "households_of",
    "new_helper",
    "phone_hash",
    "record_created",
]


class HelperError(ValueError):
    """A helper operation that cannot be carried out (bad phone, phone of another helper)."""


def phone_hash(cipher: FieldCipher, phone: str) -> str:
    """The keyed hash a helper is found by; ``phone`` must already be normalized."""
    return cipher.lookup_hash("helper-phone:" + phone)


def find_helper_by_phone(session: Session, cipher: FieldCipher, phone: str) -> Helper | None:
    """The helper with this phone (any spelling), if any."""
    normalized = normalize_phone(phone)
    if normalized is None:
        return None
    query = select(Helper).where(Helper.phone_hash == phone_hash(cipher, normalized))
    return session.exec(query).first()


def new_helper(
    cipher: FieldCipher,
    *,
    name: str,
    phone: str | None,
    region_code: str,
    township_code: str,
    village_code: str | None = None,
    work_unit: str | None = None,
    now: datetime,
) -> Helper:
    """A helper row not yet added (a roster import adds a batch of them with one flush);
    pass it to :func:`record_created` once it has an id."""
    normalized = normalize_phone(phone) if phone else None
    if phone and normalized is None:
        raise HelperError("电话号码格式不对 / the phone number is not valid")
    return Helper(
        name=name.strip()[:64],
        phone_cipher=cipher.seal(normalized),
        phone_hash=phone_hash(cipher, normalized) if normalized else None,
        work_unit=(work_unit or "").strip()[:128] or None,
        region_code=region_code,
        township_code=township_code,
        village_code=village_code,
        state=HelperState.ACTIVE,
        created_at=now,
        updated_at=now,
    )


def record_created(session: Session, helper: Helper, *, actor: str, now: datetime) -> None:
    """The audit event of a new helper (after the flush that gave it an id)."""
    assert helper.id is not None
    audit.record(
        session,
        actor=actor,
        action="helper.created",
        subject_kind="helper",
        subject_id=helper.id,
        at=now,
        data={"township": helper.township_code, "village": helper.village_code},
    )


def create_helper(
    session: Session,
    cipher: FieldCipher,
    *,
    name: str,
    phone: str | None,
    region_code: str,
    township_code: str,
    village_code: str | None = None,
    work_unit: str | None = None,
    actor: str,
    now: datetime,
) -> Helper:
    """Add a helper; a phone already held by another helper is refused (it identifies them)."""
    helper = new_helper(cipher, name=name, phone=phone, region_code=region_code,
                        township_code=township_code, village_code=village_code,
                        work_unit=work_unit, now=now)  # fmt: skip
    if helper.phone_hash is not None:
        taken = select(Helper.id).where(Helper.phone_hash == helper.phone_hash)
        if session.exec(taken).first() is not None:
            raise HelperError("该电话已登记为另一位帮扶人 / this phone belongs to another helper")
    session.add(helper)
    session.flush()
    record_created(session, helper, actor=actor, now=now)
    return helper


def current_assignment(session: Session, household_id: int) -> HelperAssignment | None:
    """The household's current assignment, if it has a helper."""
    query = select(HelperAssignment).where(
        HelperAssignment.household_id == household_id, col(HelperAssignment.ended_at).is_(None)
    )
    return session.exec(query).first()


def assign_helper(
    session: Session,
    cipher: FieldCipher,
    *,
    household_id: int,
    helper_id: int,
    actor: str,
    reason: str,
    now: datetime,
) -> HelperAssignment | None:
    """Make ``helper_id`` the household's helper; ``None`` if they already are.

    The previous assignment is ended, not changed, and the change is an audit event on
    the household with the actor, the time and the (encrypted) reason.
    """
    current = current_assignment(session, household_id)
    if current is not None and current.helper_id == helper_id:
        return None
    return change_helper(session, cipher, current, household_id=household_id,
                         helper_id=helper_id, actor=actor, reason=reason, now=now)  # fmt: skip


def change_helper(
    session: Session, cipher: FieldCipher, current: HelperAssignment | None, *,
    household_id: int, helper_id: int, actor: str, reason: str, now: datetime,
) -> HelperAssignment:  # fmt: skip
    """:func:`assign_helper` for a caller that already holds the current assignment (a
    roster import loads a whole batch's at once instead of one query per household)."""
    if current is not None:
        current.ended_at = now
        session.add(current)
        session.flush()  # the partial unique index allows the new row only after this
    assignment = HelperAssignment(
        household_id=household_id, helper_id=helper_id, started_at=now, actor=actor[:64]
    )
    session.add(assignment)
    audit.record(
        session,
        actor=actor,
        action="helper.changed" if current is not None else "helper.assigned",
        subject_kind="household",
        subject_id=household_id,
        at=now,
        reason=cipher.seal(reason),
        data={"from": current.helper_id if current else None, "to": helper_id},
    )
    return assignment


def households_of(session: Session, helper_id: int) -> list[int]:
    """The ids of the households a helper helps now, in id order."""
    query = (
        select(HelperAssignment.household_id)
        .where(HelperAssignment.helper_id == helper_id, col(HelperAssignment.ended_at).is_(None))
        .order_by(col(HelperAssignment.household_id))
    )
    return list(session.exec(query))
