"""Claims and leases: which worker holds an outbox row, and when the row may go.

A dispatcher claims rows (:func:`claim`), marks each ``sending`` right before its network
call (:func:`mark_sending`), and records the answer. While it holds rows it renews their
lease (:func:`renew`, the heartbeat); a worker that dies stops renewing, and:

- its ``claimed`` rows were never handed to the network. A dispatcher starting up gives
  every ``claimed`` row of its channels back at once (:func:`release_claims`), so a restart,
  not a lease, ends the wait; otherwise the live workers' heartbeats free them once the
  lease has lapsed (:func:`expire_leases`).
  Taking an unsent row from a live worker is safe: :func:`mark_sending` moves only a row
  its worker still holds, so the loser sends nothing of it.
- its ``sending`` rows may or may not have arrived (:func:`expire_leases`): a reply is sent
  again, anything else becomes ``unknown`` (see :data:`~notifications.outbox.AT_LEAST_ONCE`).

**One chat's rows go in order, whichever worker sends them.** A row may be claimed only when
none of its recipient's rows is being sent or held by another worker, and no earlier row of
the recipient is waiting its turn (:func:`_in_the_way`); so one recipient is one worker's at a
time. And a row is marked ``sending`` only when every earlier row of its recipient is
settled: the last word is the conditional UPDATE, whatever raced before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from intake.contacts import Contact
from notifications.outbox import AT_LEAST_ONCE, HELD, OutboxMessage, OutboxStatus


def claim(
    session: Session,
    *,
    worker: str,
    channel: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    use_skip_locked: bool,
    per_recipient: int = 3,
) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for ``worker``, most urgent first, as ``claimed``.

    A row is taken only when it is its recipient's turn (see :func:`_in_the_way`), so each
    round takes at most one row per recipient; the rows this worker took in one round no
    longer stand in the way of the next, so a reply in several messages comes in one claim
    (up to ``per_recipient`` rounds, one statement pair each, never one per row). Rows for
    a contact who blocked the channel are marked ``stopped`` instead. The caller commits
    right after, before any send: that commit makes a row one worker's.
    """
    ids: list[int] = []
    for _ in range(max(per_recipient, 1)):
        taken = _claim_round(
            session,
            worker=worker,
            channel=channel,
            now=now,
            limit=limit - len(ids),
            lease=lease,
            use_skip_locked=use_skip_locked,
        )
        ids.extend(taken)
        if not taken or len(ids) >= limit:
            break
    if not ids:
        return []
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
        )
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
    )
    return list(session.exec(query))


def _claim_round(
    session: Session,
    *,
    worker: str,
    channel: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    use_skip_locked: bool,
) -> list[int]:
    """One claim statement and its UPDATE: the next row of each recipient whose turn it is."""
    due = (
        select(OutboxMessage.id, col(Contact.stopped_at))
        .outerjoin(Contact, col(Contact.id) == col(OutboxMessage.contact_id))
        .where(
            col(OutboxMessage.channel) == channel,
            _takeable(now),
            ~_in_the_way(worker, now),
        )
        .order_by(
            col(OutboxMessage.priority), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)
        )
        .limit(limit)
    )
    if use_skip_locked:
        due = due.with_for_update(skip_locked=True, of=OutboxMessage)
    found = [(int(row_id), stopped) for row_id, stopped in session.exec(due) if row_id]
    ids = [row_id for row_id, stopped in found if stopped is None]
    blocked = [row_id for row_id, stopped in found if stopped is not None]
    if blocked:
        stopped_values = {"claimed_by": None, "lease_until": None}
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(blocked), _takeable(now))
            .values(
                status=OutboxStatus.STOPPED,
                last_error="recipient had stopped the channel",
                **stopped_values,
            )
        )
    if ids:
        # The conditions make this safe on SQLite too, where FOR UPDATE is ignored.
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids), _takeable(now))
            .values(status=OutboxStatus.CLAIMED, claimed_by=worker, lease_until=now + lease)
        )
    return ids


def _lapsed(table: type[OutboxMessage], now: datetime) -> ColumnElement[bool]:
    """The lease ran out: the worker holding the row is gone (or stopped beating)."""
    return or_(col(table.lease_until).is_(None), col(table.lease_until) < now)


def _takeable(now: datetime) -> ColumnElement[bool]:
    """Due and nobody's. (A dead worker's claims are freed by the live workers' heartbeats,
    :func:`expire_leases`; keeping them out of here keeps the claim on ``ix_outbox_due``.)"""
    return and_(
        col(OutboxMessage.status) == OutboxStatus.PENDING,
        col(OutboxMessage.next_attempt_at) <= now,
    )


def _waiting_turn(other: type[OutboxMessage], now: datetime) -> ColumnElement[bool]:
    """A row that is to be sent and nobody is sending: due, being retried, or abandoned.

    A retried row (it has an error) keeps its place even before its retry is due; a row
    merely scheduled for later (a reminder) does not hold back what is due now.
    """
    return or_(
        and_(
            col(other.status) == OutboxStatus.PENDING,
            or_(col(other.next_attempt_at) <= now, col(other.last_error).is_not(None)),
        ),
        and_(col(other.status) == OutboxStatus.CLAIMED, _lapsed(other, now)),
    )


def _same_recipient(other: type[OutboxMessage]) -> ColumnElement[bool]:
    return and_(
        col(other.channel) == col(OutboxMessage.channel),
        col(other.recipient) == col(OutboxMessage.recipient),
        col(other.id) != col(OutboxMessage.id),
    )


def _in_the_way(worker: str, now: datetime) -> ColumnElement[bool]:
    """Another row of the same recipient goes first, so this one may not be claimed yet.

    It is being sent (by anyone), or another worker holds it (one recipient is one worker's
    at a time), or it is earlier and waiting its turn. A row this worker holds unsent does
    not stand in the way: the worker sends its own rows of a recipient in order.
    """
    other = aliased(OutboxMessage)
    held_elsewhere = and_(
        col(other.status) == OutboxStatus.CLAIMED,
        col(other.claimed_by) != worker,
        ~_lapsed(other, now),
    )
    earlier = and_(col(other.id) < col(OutboxMessage.id), _waiting_turn(other, now))
    return exists().where(
        _same_recipient(other),
        or_(col(other.status) == OutboxStatus.SENDING, held_elsewhere, earlier),
    )


def mark_sending(
    session: Session, *, row_id: int | None, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Move one of ``worker``'s claimed rows to ``sending``; ``False`` if it may not go now
    (see :func:`mark_sending_many`)."""
    if row_id is None:
        return False
    return row_id in mark_sending_many(
        session, row_ids=[row_id], worker=worker, now=now, lease=lease
    )


def mark_sending_many(
    session: Session, *, row_ids: list[int], worker: str, now: datetime, lease: timedelta
) -> set[int]:
    """Move ``worker``'s claimed rows to ``sending`` in one statement; the ids that moved.

    A row does not move when its claim was lost (released, taken over, stopped) or when one
    of its recipient's rows is being sent or an earlier one is not settled: one chat's
    messages never overtake each other, whichever workers send them. Give at most one row
    per recipient (a dispatcher sends one row of a recipient at a time); a second is left
    as it is. Commit before the network call: from then on a row is sent again only under
    :data:`AT_LEAST_ONCE`.
    """
    if not row_ids:
        return set()
    other = aliased(OutboxMessage)
    ahead = exists().where(
        _same_recipient(other),
        or_(
            col(other.status) == OutboxStatus.SENDING,
            and_(
                col(other.id) < col(OutboxMessage.id),
                or_(col(other.status) == OutboxStatus.CLAIMED, _waiting_turn(other, now)),
            ),
        ),
    )
    moved = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(row_ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
            ~ahead,
        )
        .values(status=OutboxStatus.SENDING, lease_until=now + lease)
        .returning(col(OutboxMessage.id))
    )
    return {int(row_id) for (row_id,) in moved}


def recipient_free(
    session: Session, *, channel: str, recipient: str, worker: str, now: datetime
) -> bool:
    """Nothing of ``recipient`` is waiting its turn or held by a worker other than
    ``worker``: a new row may be written claimed for ``worker``, which sends a recipient's
    rows one at a time, oldest first (see :mod:`notifications.handoff`)."""
    busy = (
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.recipient) == recipient,
            or_(
                and_(col(OutboxMessage.status).in_(HELD), col(OutboxMessage.claimed_by) != worker),
                and_(
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    or_(
                        col(OutboxMessage.next_attempt_at) <= now,
                        col(OutboxMessage.last_error).is_not(None),
                    ),
                ),
            ),
        )
        .limit(1)
    )
    return session.exec(busy).first() is None


def release(session: Session, *, ids: list[int], worker: str) -> int:
    """Give ``worker``'s claimed (unsent) rows back to ``pending``; returns how many."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status) == OutboxStatus.CLAIMED,
        )
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    return _count(result)


def release_claims(session: Session, *, channel: str, worker: str | None = None) -> int:
    """Give back every unsent claimed row of ``channel`` (only ``worker``'s, if named).

    A dispatcher starting up calls it for everyone: rows claimed but not yet ``sending``
    were never handed to the network, so they may go at once instead of waiting for a
    dead worker's lease. A live worker that held some loses them safely - its
    :func:`mark_sending` fails and it sends nothing of them.
    """
    conditions = [
        col(OutboxMessage.channel) == channel,
        col(OutboxMessage.status) == OutboxStatus.CLAIMED,
    ]
    if worker is not None:
        conditions.append(col(OutboxMessage.claimed_by) == worker)
    result = session.execute(
        update(OutboxMessage)
        .where(*conditions)
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    return _count(result)


def renew(session: Session, *, ids: list[int], worker: str, now: datetime, lease: timedelta) -> int:
    """The heartbeat: extend ``worker``'s lease on the rows it still holds; how many."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == worker,
            col(OutboxMessage.status).in_(HELD),
        )
        .values(lease_until=now + lease)
    )
    return _count(result)


def expire_leases(session: Session, *, now: datetime, max_attempts: int = 8) -> int:
    """Rows whose worker vanished: ``claimed`` back to ``pending``; ``sending`` sent again
    if it is a reply (:data:`AT_LEAST_ONCE`, under ``max_attempts``), else ``unknown``.

    Returns how many rows changed.
    """
    expired = _lapsed(OutboxMessage, now)
    unsent = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.CLAIMED, expired)
        .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
    )
    again = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            expired,
            col(OutboxMessage.priority).in_([int(p) for p in AT_LEAST_ONCE]),
            col(OutboxMessage.attempts) + 1 < max_attempts,
        )
        .values(
            status=OutboxStatus.PENDING,
            claimed_by=None,
            lease_until=None,
            attempts=col(OutboxMessage.attempts) + 1,
            next_attempt_at=now,
            last_error="sender stopped mid-send; sent again (it may arrive twice)",
        )
    )
    lost = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING, expired)
        .values(status=OutboxStatus.UNKNOWN, last_error="sender stopped mid-send; not retried")
    )
    return _count(unsent) + _count(again) + _count(lost)


def _count(result: Any) -> int:
    """Rows an UPDATE changed (``rowcount`` is on the cursor result, not on the type)."""
    return int(result.rowcount or 0)
