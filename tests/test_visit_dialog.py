"""The visit log through the real conversation service: a reminder's button opens the
household, and a helper reaches only their own households by any input — a typed number,
a typed name, a forged button, a household that changed helper mid-dialog.

Golden transcripts of whole visit logs are ``tests/transcripts/visit.*.yaml``.
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import count

import pytest
from conftest import FakeClock
from sqlmodel import select
from visit_support import helper_with_households

from bot.conversation import Incoming
from bot.engine import Input
from bot.render import Rendered
from bot.services import Services
from intake.attachments import Attachment, AttachmentKind, FileInfo, unlinked
from intake.helpers.assignments import assign_helper
from intake.helpers.models import Visit, VisitAttachment, VisitMode
from intake.helpers.policy import helpers_policy
from intake.helpers.reminders import Round, helper_reminder
from intake.helpers.visits import period_of, record_visit
from intake.reports.models import ReportAttachment
from intake.workdays import SHANGHAI
from notifications.jobs import JobContext, fire_timers, plan_timers
from notifications.outbox import OutboxMessage, Priority
from notifications.sealing import open_payload

CHAT = "helper-visit"
_ids = count()


def send(services: Services, given: Input, chat: str = CHAT) -> list[Rendered]:
    message = Incoming("webhook", f"{chat}-{next(_ids)}", chat, given, "zh_CN")
    return list(services.conversations.receive(message).replies)


def press(services: Services, replies: list[Rendered], label: str) -> list[Rendered]:
    for reply in replies:
        for shown, data in reply.buttons:
            if shown == label:
                return send(services, Input(data=data))
    raise AssertionError(f"no button {label!r} in {[b for r in replies for b, _ in r.buttons]}")


def texts(replies: list[Rendered]) -> str:
    return "\n".join(r.text for r in replies)


def labels(replies: list[Rendered]) -> list[str]:
    return [label for r in replies for label, _ in r.buttons]


def visits(services: Services) -> list[Visit]:
    with services.db.read() as session:
        return list(session.exec(select(Visit).where(Visit.period != "2026-10")))


def not_visited(services: Services, replies: list[Rendered]) -> list[Rendered]:
    """Finish the shortest visit record: could not visit, away for work."""
    return press(services, press(services, replies, "未能走访"), "外出务工")


@pytest.fixture
def ids(services: Services) -> dict[str, int]:
    return helper_with_households(services)


def test_the_reminders_button_opens_the_household_from_the_menu(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    policy = services.policies["gangkou"]
    today = services.clock().astimezone(SHANGHAI).date()
    with services.db.read() as session:
        message = helper_reminder(session, ids["helper"], period_of(today), Round.FIRST,
                                  today=today, policy=policy,
                                  helpers=helpers_policy(policy))  # fmt: skip
    assert message is not None and message.recipient == CHAT
    data = dict(message.buttons)[f"记录走访：{'王三'}"]
    replies = send(services, Input(data=data))
    assert texts(replies) == "王三户：这次是怎么走访的？"
    assert "已记录王三户本月未能走访" in texts(not_visited(services, replies))
    assert [v.household_id for v in visits(services)] == [ids["王三"]]


def test_a_reminders_button_in_the_middle_of_another_dialog_comes_back_to_it(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    send(services, Input(text="请村干部回电话"))
    replies = send(services, Input(data=f"visit:{ids['王四']}"))
    assert "王四户" in texts(replies)
    assert "电话号码" in texts(not_visited(services, replies))


def test_a_forged_button_for_another_helpers_household_is_refused(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    replies = send(services, Input(data=f"visit:{ids['赵他人']}"))
    assert "这户不在您的帮扶名单里" in texts(replies)
    assert "赵他人" not in labels(replies) and "王一" in labels(replies)
    replies = send(services, Input(data=f"visit:{ids['赵他人']}"))  # now at the list itself
    assert "赵他人" not in texts(replies) and "王一" in labels(replies)
    replies = send(services, Input(data="visit:99999"))
    assert "赵他人" not in texts(replies)
    assert visits(services) == []


def test_typed_numbers_and_names_reach_only_their_own(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    replies = send(services, Input(text="记录走访"))
    for typed in (str(ids["赵他人"]), f"visit:{ids['赵他人']}", "赵他人", "赵"):
        replies = send(services, Input(text=typed))
        assert "赵他人" not in labels(replies), typed
        assert "赵他人户" not in texts(replies), typed  # never opened
        assert "王一" in labels(replies), typed  # their own list again
    assert visits(services) == []


def test_a_household_that_changed_helper_mid_dialog_is_not_recorded(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    replies = send(services, Input(data=f"visit:{ids['王五']}"))
    with services.db.write() as session:
        assign_helper(session, services.cipher, household_id=ids["王五"],
                      helper_id=ids["other_helper"], actor="t", reason="r",
                      now=services.clock())  # fmt: skip
    replies = not_visited(services, replies)
    assert "这户不在您的帮扶名单里" in texts(replies)
    assert visits(services) == []


def test_a_chat_that_is_no_helpers_cannot_log_a_visit(
    services: Services, ids: dict[str, int]
) -> None:
    replies = send(services, Input(start=True), chat="villager")
    assert "记录走访" not in labels(replies)
    replies = send(services, Input(data=f"visit:{ids['王一']}"), chat="villager")
    assert "只有已绑定的帮扶责任人才能记录走访" in texts(replies)
    assert "王一" not in texts(replies) + "".join(labels(replies))
    assert visits(services) == []


def test_search_by_name_pages_and_finds(services: Services, ids: dict[str, int]) -> None:
    send(services, Input(start=True))
    replies = send(services, Input(text="记录走访"))
    assert len([b for b in labels(replies) if b.startswith("王")]) == 8
    replies = press(services, replies, "下一页")
    assert len([b for b in labels(replies) if b.startswith("王")]) == 2
    replies = press(services, replies, "按姓名查找")
    replies = send(services, Input(text="十"))
    assert [b for b in labels(replies) if b.startswith("王")] == ["王十"]
    replies = send(services, Input(text="没这人"))
    assert "没有姓名包含“没这人”的" in texts(replies)


def test_a_visit_logged_from_the_reminder_leaves_the_second_reminder(
    services: Services, ids: dict[str, int], clock: FakeClock
) -> None:
    """The month through the jobs table and the chat: December's first reminder lists the
    ten households; one is logged from its button; the second reminder lists nine."""
    ctx = JobContext(db=services.db, policies=services.policies, calendar=services.calendar,
                     clock=clock, worker="w", cipher=services.cipher)  # fmt: skip

    def tick(at: datetime) -> list[OutboxMessage]:
        clock.now = at
        for _ in range(3):
            plan_timers(ctx)
            fire_timers(ctx)
        with services.db.read() as session:
            query = select(OutboxMessage).where(OutboxMessage.recipient == CHAT)
            return [m for m in session.exec(query) if m.priority == int(Priority.BULK)]

    (first,) = tick(datetime(2026, 12, 1, 9, 0, 30, tzinfo=SHANGHAI))
    payload = open_payload(first.payload, services.cipher)
    assert "2026年12月请走访以下10户" in payload["text"]
    data = next(b["data"] for b in payload["buttons"] if b["label"] == "记录走访：王六")
    replies = send(services, Input(data=data))
    assert "王六户" in texts(replies)
    not_visited(services, replies)
    reminders = tick(datetime(2026, 12, 28, 9, 0, 30, tzinfo=SHANGHAI))
    second = open_payload(reminders[-1].payload, services.cipher)
    assert len(reminders) == 2 and "还有9户没有走访记录" in second["text"]
    assert "王六" not in second["text"]


def test_a_reminders_button_works_while_the_list_shows_another_page(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, Input(start=True))
    replies = send(services, Input(text="记录走访"))
    on_first_page = [b for b in labels(replies) if b.startswith("王")]
    elsewhere = next(name for name in ("王十", "王四") if name not in on_first_page)
    replies = send(services, Input(data=f"visit:{ids[elsewhere]}"))
    assert texts(replies) == f"{elsewhere}户：这次是怎么走访的？"


def _photo(services: Services, n: int, kind: str = "photo") -> list[Rendered]:
    file = FileInfo(kind=AttachmentKind(kind), file_id=f"visit-file-{n}", caption=f"屋顶{n}")
    meta = {"aside": f"telegram.attachment.{kind}", "attachment": file.to_json()}
    message = Incoming("webhook", f"{CHAT}-file-{n}", CHAT, Input(), "zh_CN", meta=meta)
    return list(services.conversations.receive(message).replies)


def test_photos_and_voice_sent_while_logging_belong_to_the_visit_and_its_risk(
    services: Services, ids: dict[str, int], clock: FakeClock
) -> None:
    _photo(services, 0)  # before the visit: not the visit's
    clock.advance(minutes=5)
    send(services, Input(start=True))
    replies = press(services, send(services, Input(data=f"visit:{ids['王五']}")), "入户走访")
    replies = press(services, press(services, replies, "今天"), "和上月差不多")
    assert "照片收到了" in texts(_photo(services, 1))
    _photo(services, 2, "voice")
    replies = press(services, press(services, replies, "都有保障"), "不用了")
    replies = press(services, replies, "新发重大疾病")
    assert "这次走访发来的 2 个照片或语音已附在走访记录里" in texts(replies)
    with services.db.read() as session:
        (visit,) = [v for v in session.exec(select(Visit)) if v.household_id == ids["王五"]]
        linked = session.exec(select(VisitAttachment).where(VisitAttachment.visit_id == visit.id))
        files = [session.get(Attachment, link.attachment_id) for link in linked]
        assert [f.file_id for f in files if f] == ["visit-file-1", "visit-file-2"]
        on_report = session.exec(select(ReportAttachment)).all()
        assert {r.attachment_id for r in on_report} == {f.id for f in files if f}
        loose = unlinked(session, int(files[0].contact_id or 0)) if files[0] else []
    assert [f.file_id for f in loose] == ["visit-file-0"], "the next filing takes only this"


def test_each_open_measure_of_the_ledger_is_asked_and_done_ones_carried_over(
    services: Services, ids: dict[str, int]
) -> None:
    ledger = [
        {"measure": "公益岗位", "progress": "done", "deadline": "2026-10-01"},
        {"measure": "危房改造", "progress": "behind", "deadline": "2026-12-31"},
        {"measure": "医疗救助", "progress": "", "deadline": None},
    ]
    with services.db.write() as session:
        record_visit(session, services.cipher, household_id=ids["王二"], helper_id=ids["helper"],
                     period="2026-10", visited_on=date(2026, 10, 9), mode=VisitMode.IN_PERSON,
                     measures=ledger, actor="t", now=services.clock())  # fmt: skip
    send(services, Input(start=True))
    replies = press(services, send(services, Input(data=f"visit:{ids['王二']}")), "入户走访")
    replies = press(services, press(services, replies, "今天"), "和上月差不多")
    replies = press(services, press(services, replies, "都有保障"), "不用了")
    replies = press(services, replies, "没有")
    assert texts(replies) == "帮扶措施：危房改造（完成时限：2026-12-31）。进展如何？"
    replies = press(services, replies, "已完成")
    assert texts(replies) == "帮扶措施：医疗救助（完成时限：—）。进展如何？"
    replies = press(services, replies, "返回")  # one measure back, then on again
    assert texts(replies) == "帮扶措施：危房改造（完成时限：2026-12-31）。进展如何？"
    replies = press(services, replies, "已完成")
    assert "已记录王二户本月的走访" in texts(press(services, replies, "正在落实"))
    (visit,) = [
        v for v in visits(services) if v.household_id == ids["王二"] and v.period != "2026-10"
    ]
    assert [(m["measure"], m["progress"]) for m in visit.measures] == [
        ("公益岗位", "done"), ("危房改造", "done"), ("医疗救助", "on_track")
    ]  # fmt: skip
