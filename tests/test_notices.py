"""Notices to applicants (in their language, with the next step and its date) and the
cadres' daily digest (working hours, once a day, to a linked chat). Both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cadre_support import VILLAGE_A, VILLAGE_B, add_user, apply_by_chat, callback_item
from conftest import FakeClock
from sqlmodel import col, select

from bot.services import Services
from intake.applications import Application
from intake.contacts import Contact
from intake.notices import notice_sink
from intake.procedure import Action, apply
from intake.queue import QueueItem
from intake.users import Role, Scope, link_chat
from notifications.digest import post_notice, send_digests
from notifications.outbox import OutboxMessage, Priority
from notifications.sealing import open_payload

ADMIN = Scope(Role.ADMIN, None, None, None)


def _act(services: Services, item_id: int | None, action: Action, **kw: Any) -> None:
    with services.db.write() as db:
        item = db.get(QueueItem, item_id)
        assert item is not None
        apply(
            db, item, action, scope=ADMIN, actor="user:1", policy=services.default_policy,
            calendar=services.calendar, now=services.clock(), cipher=services.cipher,
            sink=notice_sink(post_notice, lambda _item: services.default_policy), **kw,
        )  # fmt: skip


def _notices(services: Services, recipient: str) -> list[str]:
    with services.db.read() as db:
        rows = db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient, OutboxMessage.priority == Priority.NOTICE)
            .order_by(col(OutboxMessage.id))
        )
        return [open_payload(row.payload, services.cipher)["text"] for row in rows]


def test_declined_applicant_is_told_the_reason_and_how_to_ask_for_review(
    services: Services,
) -> None:
    item = apply_by_chat(services, sender="n-1")
    _act(services, item.id, Action.START_VILLAGE_REVIEW)
    _act(
        services,
        item.id,
        Action.VILLAGE_REPORT,
        facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "未通过"},
    )
    _act(services, item.id, Action.DECLINE, reason="家庭年收入高于监测标准")
    texts = _notices(services, "n-1")
    assert len(texts) == 3
    assert "原因：家庭年收入高于监测标准" in texts[-1]
    assert "申请复核" in texts[-1] and "0715-3811061" in texts[-1]


def test_notice_in_the_applicants_language(services: Services, clock: FakeClock) -> None:
    item = apply_by_chat(services, sender="n-2")
    with services.db.write() as db:
        application = db.exec(select(Application).where(Application.queue_item_id == item.id)).one()
        application.language = "en"
        db.add(application)
    _act(services, item.id, Action.START_VILLAGE_REVIEW)
    _act(services, item.id, Action.VILLAGE_REPORT,
         facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "ok"})  # fmt: skip
    _act(services, item.id, Action.START_NOTICE)
    texts = _notices(services, "n-2")
    assert texts[0].startswith(f"[Monitoring] Tracking code {item.tracking_code}")
    assert "decides by 30 Nov 2026 at the latest" in texts[1]
    assert "from 25 Nov 2026 to 2 Dec 2026" in texts[2]


def test_withdrawn_and_merged_applicants_hear_of_it(services: Services) -> None:
    first = apply_by_chat(services, sender="n-3", serial=3)
    second = apply_by_chat(services, sender="n-4", serial=4)
    _act(services, first.id, Action.MERGE, facts={"merge_into": second.tracking_code})
    _act(
        services,
        second.id,
        Action.WITHDRAW,
        reason="申请人要求撤回",
        facts={"applicant_asked": "on"},
    )
    assert second.tracking_code in _notices(services, "n-3")[-1]
    assert "原因：申请人要求撤回" in _notices(services, "n-4")[-1]


def test_nobody_is_told_when_there_is_no_one_to_tell(services: Services) -> None:
    call = callback_item(services, VILLAGE_A)  # no contact: nothing to send
    _act(services, call.id, Action.CLOSE_CALLBACK, reason="已电话联系")
    item = apply_by_chat(services, sender="n-5")
    with services.db.write() as db:
        contact = db.exec(select(Contact).where(Contact.external_id == "n-5")).one()
        contact.stopped_at = services.clock()
        db.add(contact)
    _act(services, item.id, Action.START_VILLAGE_REVIEW)
    with services.db.read() as db:
        notices = db.exec(select(OutboxMessage).where(OutboxMessage.priority == Priority.NOTICE))
        assert list(notices) == []


def _digests(services: Services) -> list[OutboxMessage]:
    with services.db.read() as db:
        return list(db.exec(select(OutboxMessage).where(OutboxMessage.priority == Priority.BULK)))


def _link(services: Services, name: str, chat: str) -> None:
    with services.db.write() as db:
        link_chat(db, name, "telegram", chat, actor="cli", now=services.clock())


def test_daily_digest_in_working_hours_once_a_day(services: Services, clock: FakeClock) -> None:
    item = apply_by_chat(services, sender="d-1")
    apply_by_chat(services, sender="d-2", serial=2, village=VILLAGE_B)
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "quiet", Role.VILLAGE, "gangkou-dongquan")
    for name, chat in (("cun", "101"), ("xiang", "102"), ("quiet", "103")):
        _link(services, name, chat)
    _act(services, item.id, Action.START_VILLAGE_REVIEW)
    _act(
        services,
        item.id,
        Action.VILLAGE_REPORT,
        facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
    )

    def tick(moment: datetime) -> int:
        return send_digests(services.db, calendar=services.calendar, policies=services.policies,
                            now=moment, base_url="https://cadre.example",
                            cipher=services.cipher)  # fmt: skip

    assert tick(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == 0, "20:00 in Beijing: after hours"
    assert tick(datetime(2026, 11, 28, 2, 0, tzinfo=UTC)) == 0, "a Saturday"
    assert tick(datetime(2026, 11, 26, 1, 30, tzinfo=UTC)) == 2, "09:30 Thursday: cun and xiang"
    assert tick(datetime(2026, 11, 26, 3, 0, tzinfo=UTC)) == 0, "once a day"
    messages = {
        m.recipient: open_payload(m.payload, services.cipher)["text"] for m in _digests(services)
    }
    assert set(messages) == {"101", "102"}, "nothing new for quiet's village: no message"
    assert "新收到 1 件" in messages["101"] and "新收到 2 件" in messages["102"]
    assert (
        item.tracking_code in messages["101"] and "https://cadre.example/cadre/" in messages["101"]
    )
    clock.advance(days=5)
    assert tick(datetime(2026, 11, 30, 1, 30, tzinfo=UTC)) == 2
    latest = open_payload(_digests(services)[-1].payload, services.cipher)["text"]
    assert "新收到 0 件" in latest and "已超期 0 件" in latest and "即将到期 1 件" in latest
