"""The outbox's states on both databases: claimed, sending, held, stopped, recovered."""

from __future__ import annotations

from datetime import timedelta

from conftest import FakeClock
from sqlmodel import col, select

from bot.services import Services
from intake.contacts import get_or_create_contact
from notifications import outbox
from notifications.outbox import OutboxMessage, OutboxStatus, Priority, enqueue

LEASE = timedelta(minutes=5)


def put(services: Services, recipient: str, priority: Priority = Priority.INTERACTIVE) -> int:
    with services.db.write() as db:
        contact = get_or_create_contact(db, "telegram", recipient, language="zh_CN")
        row = enqueue(
            db,
            channel="telegram",
            recipient=recipient,
            contact_id=contact.id,
            payload={"text": recipient, "buttons": []},
            priority=priority,
            now=services.clock(),
        )
        assert row is not None
        db.flush()
        assert row.id is not None
        return row.id


def claim(services: Services, worker: str, limit: int = 10) -> list[int]:
    with services.db.write() as db:
        rows = outbox.claim(
            db,
            worker=worker,
            channel="telegram",
            now=services.clock(),
            limit=limit,
            lease=LEASE,
            use_skip_locked=not services.db.is_sqlite,
        )
        return [r.id for r in rows if r.id is not None]


def statuses(services: Services) -> dict[int, str]:
    with services.db.read() as db:
        rows = db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        return {r.id: r.status for r in rows if r.id is not None}


def test_claims_take_the_most_urgent_first_and_never_the_same_row_twice(
    services: Services,
) -> None:
    bulk = [put(services, f"b{n}", Priority.BULK) for n in range(3)]
    urgent = put(services, "u", Priority.INTERACTIVE)
    first = claim(services, "w1", limit=2)
    second = claim(services, "w2", limit=10)
    assert first == [urgent, bulk[0]]
    assert second == bulk[1:]
    assert set(statuses(services).values()) == {OutboxStatus.CLAIMED}


def test_only_the_claiming_worker_may_start_sending(services: Services, clock: FakeClock) -> None:
    row = put(services, "a")
    claim(services, "w1")
    with services.db.write() as db:
        assert not outbox.mark_sending(db, row_id=row, worker="w2", now=clock(), lease=LEASE)
        assert outbox.mark_sending(db, row_id=row, worker="w1", now=clock(), lease=LEASE)
        assert not outbox.mark_sending(db, row_id=row, worker="w1", now=clock(), lease=LEASE)
    assert statuses(services)[row] == OutboxStatus.SENDING


def test_expired_leases_resend_the_unsent_and_never_the_maybe_sent(
    services: Services, clock: FakeClock
) -> None:
    claimed, sending = put(services, "a"), put(services, "b")
    claim(services, "dead")
    with services.db.write() as db:
        outbox.mark_sending(db, row_id=sending, worker="dead", now=clock(), lease=LEASE)
        assert outbox.expire_leases(db, now=clock()) == 0
    clock.advance(minutes=6)
    with services.db.write() as db:
        assert outbox.expire_leases(db, now=clock()) == 2
    assert statuses(services) == {claimed: OutboxStatus.PENDING, sending: OutboxStatus.UNKNOWN}
    assert claim(services, "w2") == [claimed]


def test_a_stopped_recipient_gets_nothing_more(services: Services, clock: FakeClock) -> None:
    first, second = put(services, "a"), put(services, "a")
    other = put(services, "b")
    claim(services, "w1", limit=1)
    with services.db.write() as db:
        stopped = outbox.stop_recipient(
            db, channel="telegram", recipient="a", now=clock(), reason="Forbidden: blocked"
        )
    assert stopped == 2
    later = put(services, "a")
    assert claim(services, "w1") == [other]
    assert statuses(services) == {
        first: OutboxStatus.STOPPED,
        second: OutboxStatus.STOPPED,
        other: OutboxStatus.CLAIMED,
        later: OutboxStatus.STOPPED,
    }


def test_a_retried_row_keeps_its_recipients_later_rows_behind_it(
    services: Services, clock: FakeClock
) -> None:
    first, second = put(services, "a"), put(services, "a")
    claim(services, "w1")
    retry_at = clock() + timedelta(seconds=30)
    with services.db.write() as db:
        outbox.hold_recipient(
            db, channel="telegram", recipient="a", after_id=first, until=retry_at, worker="w1"
        )
        outbox.release(db, ids=[first], worker="w1")
    with services.db.read() as db:
        held = db.get(OutboxMessage, second)
        assert held is not None
    assert held.status == OutboxStatus.PENDING and held.next_attempt_at == retry_at
    assert claim(services, "w2") == [first]
