"""The outbox's states on both databases: claimed, sending, held, stopped, recovered, in order."""

from __future__ import annotations

from datetime import timedelta

from conftest import FakeClock
from sqlalchemy import text
from sqlmodel import col, select, update

from bot.services import Services
from intake.contacts import get_or_create_contact
from notifications import claims, outbox
from notifications.dispatcher import Dispatcher
from notifications.outbox import OutboxMessage, OutboxStatus, Priority, enqueue
from notifications.sealing import open_payload

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
        rows = claims.claim(
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
        assert not claims.mark_sending(db, row_id=row, worker="w2", now=clock(), lease=LEASE)
        assert claims.mark_sending(db, row_id=row, worker="w1", now=clock(), lease=LEASE)
        assert not claims.mark_sending(db, row_id=row, worker="w1", now=clock(), lease=LEASE)
    assert statuses(services)[row] == OutboxStatus.SENDING


def test_expired_leases_resend_the_unsent_and_a_maybe_sent_notice_never(
    services: Services, clock: FakeClock
) -> None:
    claimed, notice, reply = (
        put(services, "a"),
        put(services, "b", Priority.NOTICE),
        put(services, "c"),
    )
    claim(services, "dead")
    with services.db.write() as db:
        for row in (notice, reply):
            claims.mark_sending(db, row_id=row, worker="dead", now=clock(), lease=LEASE)
        assert claims.expire_leases(db, now=clock()) == 0
    clock.advance(minutes=6)
    with services.db.write() as db:
        assert claims.expire_leases(db, now=clock()) == 3
    assert statuses(services) == {
        claimed: OutboxStatus.PENDING,
        notice: OutboxStatus.UNKNOWN,  # at most once
        reply: OutboxStatus.PENDING,  # at least once: the villager waits for it
    }
    assert sorted(claim(services, "w2")) == [claimed, reply]


def test_a_reply_lost_mid_send_too_often_is_given_up_as_unknown(
    services: Services, clock: FakeClock
) -> None:
    reply = put(services, "a")
    for _ in range(3):
        claim(services, "dying")
        with services.db.write() as db:
            claims.mark_sending(db, row_id=reply, worker="dying", now=clock(), lease=LEASE)
        clock.advance(minutes=6)
        with services.db.write() as db:
            claims.expire_leases(db, now=clock(), max_attempts=3)
    assert statuses(services) == {reply: OutboxStatus.UNKNOWN}


def test_one_recipient_is_one_workers_at_a_time(services: Services) -> None:
    first, second = put(services, "a"), put(services, "a")
    other = put(services, "b")
    assert claim(services, "w1", limit=1) == [first]
    assert claim(services, "w2") == [other]  # not "a"'s second row: w1 holds "a"
    assert claim(services, "w1") == [second]


def test_a_reply_in_several_messages_is_claimed_in_one_go(services: Services) -> None:
    rows = [put(services, "a") for _ in range(4)]
    with services.db.write() as db:
        taken = claims.claim(
            db, worker="w1", channel="telegram", now=services.clock(), limit=10,
            lease=LEASE, use_skip_locked=not services.db.is_sqlite, per_recipient=3,
        )  # fmt: skip
    assert [r.id for r in taken] == rows[:3]


def test_a_row_is_not_sent_before_its_recipients_earlier_rows(
    services: Services, clock: FakeClock
) -> None:
    first, second = put(services, "a"), put(services, "a")
    claim(services, "w1")

    def mark(row: int) -> bool:
        with services.db.write() as db:
            return claims.mark_sending(db, row_id=row, worker="w1", now=clock(), lease=LEASE)

    assert not mark(second)  # the first is not sent yet
    assert mark(first)
    assert not mark(second)  # the first is on its way: one send per chat at a time
    with services.db.write() as db:
        db.execute(
            update(OutboxMessage).where(col(OutboxMessage.id) == first).values(status="sent")
        )
    assert mark(second)


def test_a_restart_gives_back_unsent_claims_and_their_old_worker_sends_nothing(
    services: Services, clock: FakeClock
) -> None:
    rows = [put(services, "a"), put(services, "b")]
    claim(services, "before-restart")
    with services.db.write() as db:
        assert claims.release_claims(db, channel="telegram") == 2
    assert sorted(claim(services, "after-restart")) == rows
    with services.db.write() as db:
        for row in rows:
            assert not claims.mark_sending(
                db, row_id=row, worker="before-restart", now=clock(), lease=LEASE
            )


def test_a_heartbeat_keeps_a_claim_and_a_lapsed_one_goes_to_another_worker(
    services: Services, clock: FakeClock
) -> None:
    kept, lapsed = put(services, "a"), put(services, "b")
    claim(services, "w1")
    clock.advance(minutes=4)
    with services.db.write() as db:
        assert claims.renew(db, ids=[kept], worker="w1", now=clock(), lease=LEASE) == 1
    clock.advance(minutes=2)
    with services.db.write() as db:  # another worker's heartbeat
        assert claims.expire_leases(db, now=clock()) == 1
    assert claim(services, "w2") == [lapsed]
    with services.db.write() as db:
        assert not claims.mark_sending(db, row_id=lapsed, worker="w1", now=clock(), lease=LEASE)
        assert claims.mark_sending(db, row_id=kept, worker="w1", now=clock(), lease=LEASE)


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
        claims.release(db, ids=[first], worker="w1")
    with services.db.read() as db:
        held = db.get(OutboxMessage, second)
        assert held is not None
    assert held.status == OutboxStatus.PENDING and held.next_attempt_at == retry_at
    assert claim(services, "w2") == [first]


def test_payloads_are_sealed_at_rest_and_opened_for_the_sender(services: Services) -> None:
    """A notice can carry a cadre's reason: the stored row holds only a token."""
    reason = "退回：户主已在县城购房，请核实"
    with services.db.write() as db:
        row = enqueue(
            db, channel="test", recipient="s1", payload={"text": reason, "buttons": []},
            now=services.clock(),
        )  # fmt: skip
    assert row is not None
    with services.db.read() as db:
        stored = db.exec(text("SELECT payload FROM outbox_message")).scalars().all()
    assert stored and all(reason not in str(value) for value in stored)
    dispatcher = Dispatcher(services.db, {}, now=services.clock)
    claimed = dispatcher.claim("test", 10)
    assert [r.payload for r in claimed] == [{"text": reason, "buttons": []}]
    dispatcher.save_progress(claimed[0], 1)  # bookkeeping written back stays sealed
    with services.db.read() as db:
        again = db.exec(text("SELECT payload FROM outbox_message")).scalars().all()
    assert all(reason not in str(value) for value in again) and "parts_sent" in str(again)
    assert open_payload({"text": "older row"}, services.cipher) == {"text": "older row"}


def test_one_statement_marks_many_chats_but_never_two_rows_of_one(services: Services) -> None:
    first, second = put(services, "m1"), put(services, "m1")
    other = put(services, "m2")
    assert sorted(claim(services, "w1")) == sorted([first, second, other])
    with services.db.write() as db:
        moved = claims.mark_sending_many(
            db, row_ids=[first, second, other], worker="w1", now=services.clock(), lease=LEASE
        )
    assert moved == {first, other}, "one row of a chat in flight; the later one waits"
    with services.db.write() as db:
        assert (
            claims.mark_sending_many(
                db, row_ids=[second], worker="w2", now=services.clock(), lease=LEASE
            )
            == set()
        ), "another worker's row is not ours to send"
