"""Reports through the real conversation service: the anonymity probe over every table,
the daily limit, what a lookup by code tells each chat, the objection by chat, the answer
reaching a named reporter through the outbox, and rough input answered politely."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import pytest
from conftest import FakeClock
from sqlmodel import SQLModel, select

from bot.conversation import Incoming
from bot.effect_kinds.reports import report_filed
from bot.effects import EffectCall
from bot.engine import Input
from bot.services import Services
from bot.state import Session as DialogState
from intake.attachments import AttachmentKind, FileInfo
from intake.audit import AuditEvent
from intake.contacts import find_contact, get_or_create_contact
from intake.policy import load_policies
from intake.reports.kinds import report_rules
from intake.reports.models import Report, find_report
from intake.reports.procedure import Action, apply
from intake.users import Role, User, _place
from notifications.digest import post_notice
from notifications.dispatcher import Dispatcher
from notifications.outbox import (
    FORGET,
    OutboxMessage,
    OutboxStatus,
    enqueue,
    forget_once_settled,
)
from notifications.ratelimit import Limits
from notifications.sealing import open_payload
from notifications.sender import Delivered, Outcome

CHAT = "700100200"
MENU = "反映问题 / 举报 / 投诉"
SECRET_TEXT = "他家老人去年大病住院，欠了十几万的债。"
SUBJECT = "张大山"
FAST = Limits(per_second=50, per_recipient_interval=0.0)


@dataclass
class Chat:
    """One Telegram chat talking to the service, pressing buttons by their labels."""

    services: Services
    clock: FakeClock
    sender: str = CHAT
    language: str = "zh_CN"
    buttons: list[tuple[str, str]] = field(default_factory=list)
    count: int = 0

    def send(self, text: str = "", *, press: str | None = None, start: bool = False) -> str:
        self.count += 1
        self.clock.advance(seconds=20)
        data = None
        if press is not None:
            data = next(d for label, d in self.buttons if label == press)
        given = Input(text=text, data=data, start=start)
        # Telegram's button presses are stored under an id naming the chat (cb:<chat>:<n>).
        message = Incoming(
            "telegram", f"cb:{self.sender}:{self.count}", self.sender, given, self.language
        )
        outcome = self.services.conversations.receive(message)
        shown = [b for reply in reversed(outcome.replies) for b in reply.buttons]
        self.buttons = shown or self.buttons
        return "\n".join(reply.text for reply in outcome.replies)

    def photo(self) -> str:
        self.count += 1
        file = FileInfo(
            AttachmentKind.PHOTO, file_id="AgAD-photo-of-the-house", caption="他家的房子"
        )
        meta = {"aside": "telegram.attachment.photo", "attachment": file.to_json()}
        message = Incoming(
            "telegram",
            f"cb:{self.sender}:{self.count}",
            self.sender,
            Input(),
            self.language,
            meta=meta,
        )
        return "\n".join(r.text for r in self.services.conversations.receive(message).replies)


def _anonymous_tip(chat: Chat) -> str:
    """File an anonymous tip through the dialog; returns the tracking code."""
    chat.send(start=True)
    chat.send(press=MENU)
    chat.send(press="有户人家生活困难（线索）")
    chat.send(press="柏岭村")
    chat.send(SUBJECT)
    chat.photo()
    chat.send(press="否")
    chat.send(SECRET_TEXT)
    said = chat.send(press="匿名反映")
    assert "已经收到您的反映" in said, said
    with chat.services.db.read() as db:
        report = db.exec(select(Report).order_by(Report.id.desc())).first()  # type: ignore[union-attr]
    assert report is not None and report.tracking_code in said
    return report.tracking_code


class Recorder:
    """A Telegram stand-in that records what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        self.sent.append((recipient, str(payload.get("text"))))
        return Delivered()


async def _send_everything(services: Services, recorder: Recorder) -> None:
    dispatcher = Dispatcher(services.db, {"telegram": recorder}, now=services.clock, limits=FAST)
    for _ in range(20):
        if not await dispatcher.run_once():
            return


def _readable(value: Any, services: Services) -> str:
    """A cell as text, with anything encrypted opened: the probe reads what a key holder could."""
    if isinstance(value, dict):
        if "sealed" in value:
            value = open_payload(value, services.cipher)
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    try:
        return f"{text} {services.cipher.decrypt(text)}"
    except Exception:
        return text


def _rows(services: Services) -> list[tuple[str, dict[str, Any], str]]:
    """``(table, columns, everything readable)`` for every row of every table."""
    found = []
    with services.db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                cells = dict(row._mapping)
                text = " ".join(_readable(v, services) for v in cells.values() if v is not None)
                found.append((table.name, cells, text))
    return found


async def test_an_anonymous_report_by_chat_leaves_no_link_in_any_table(
    services: Services, clock: FakeClock
) -> None:
    chat = Chat(services, clock)
    code = _anonymous_tip(chat)
    assert code in chat.send(code)  # looked up from the same chat, then scrubbed too
    recorder = Recorder()
    await _send_everything(services, recorder)
    assert any(code in text for _, text in recorder.sent), "the reporter was told the code"
    with services.db.read() as db:
        contact = find_contact(db, "telegram", CHAT)
        report = find_report(db, code)
        outbox = db.exec(select(OutboxMessage)).all()
    assert contact is not None and report is not None
    assert report.contact_id is None and report.phone_cipher is None and report.anonymous
    assert all(row.status == OutboxStatus.SENT for row in outbox)
    chat_marks = (CHAT, f"contact:{contact.id}")
    report_marks = (code, SECRET_TEXT, SUBJECT, "AgAD-photo-of-the-house", "他家的房子")
    for table, cells, text in _rows(services):
        if table == "report":
            assert not any(mark in text for mark in chat_marks), "the report names no chat"
            continue
        about_report = [mark for mark in report_marks if mark in text]
        names_chat = [mark for mark in chat_marks if mark in text]
        if cells.get("contact_id") == contact.id or table == "contact":
            names_chat.append("contact_id")
        assert not (about_report and names_chat), (table, about_report, names_chat)
        # The report's code and words are nowhere else at all, linked or not.
        assert code not in text, (table, "the tracking code")
        assert SECRET_TEXT not in text and SUBJECT not in text, (table, "the report's words")
    with services.db.read() as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.subject_kind == "report")).all()
    assert [e.actor for e in events] == ["anonymous"]
    assert events[0].at.astimezone(UTC).time() == datetime(2026, 1, 1, 16, tzinfo=UTC).time()


async def test_the_outbox_keeps_an_anonymous_reply_only_until_it_is_sent(
    services: Services, clock: FakeClock
) -> None:
    code = _anonymous_tip(Chat(services, clock))
    with services.db.read() as db:
        waiting = db.exec(select(OutboxMessage)).all()
    marked = [row for row in waiting if row.payload.get(FORGET)]
    assert marked, "the dialog's replies are marked to be blanked"
    opened = [open_payload(row.payload, services.cipher) for row in marked]
    assert any(code in str(p.get("text")) for p in opened), "kept until it is sent"
    await _send_everything(services, Recorder())
    with services.db.read() as db:
        sent = db.exec(select(OutboxMessage)).all()
    blanked = [row for row in sent if row.id in {m.id for m in marked}]
    assert len(blanked) == len(marked)
    for row in blanked:
        assert row.payload == {FORGET: True}
        # Nothing left of the chat, nor the minute, that could be matched to the report.
        assert row.recipient != CHAT and row.contact_id is None
        assert row.sent_at is not None and row.sent_at.astimezone(UTC).time() == time(16)
        assert row.created_at.astimezone(UTC).time() == time(16)
    before = [row for row in sent if row.id not in {m.id for m in marked}]
    assert before and all(row.recipient == CHAT for row in before), "the menu before is kept"


class MarkedWhileSending(Recorder):
    """The chat's next message (an anonymous report filed) is answered while this row is
    on its way: the row is marked after the sender read it."""

    def __init__(self, services: Services, since: datetime) -> None:
        super().__init__()
        self.services, self.since = services, since

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        if not self.sent:  # once, while the first (or only) part is on its way
            with self.services.db.write() as db:
                forget_once_settled(db, channel="telegram", recipient=recipient, since=self.since)
        return await super().send(recipient, payload)


class MarkedBetweenParts(MarkedWhileSending):
    """A long reply sent in two parts, marked after the first."""

    channel = "telegram"

    def parts(self, payload: dict[str, Any]) -> int:
        return 2


@pytest.mark.parametrize("parts", [1, 2])
async def test_a_reply_marked_while_it_is_sent_is_blanked_too(
    services: Services, clock: FakeClock, parts: int
) -> None:
    since = clock()
    with services.db.write() as db:
        enqueue(db, channel="telegram", recipient=CHAT, payload={"text": SECRET_TEXT}, now=since)
    kind = MarkedWhileSending if parts == 1 else MarkedBetweenParts
    sender = kind(services, since)
    await _send_everything(services, sender)
    assert sender.sent == [(CHAT, SECRET_TEXT)] * parts
    with services.db.read() as db:
        row = db.exec(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.SENT and row.payload == {FORGET: True}
    assert row.recipient != CHAT


def _call(services: Services, db: Any, sender: str, language: str = "zh_CN") -> EffectCall:
    contact = get_or_create_contact(db, "telegram", sender, language=language)
    db.flush()
    state = DialogState(dialog="menu", step="choose", language=language)
    data = {
        "kind": "tip",
        "village": "gangkou-bailing",
        "subject": "household",
        "subject_name": SUBJECT,
        "village_told": True,
        "text": SECRET_TEXT,
        "anonymous": True,
        "started_at": services.clock().isoformat(),
    }
    return EffectCall(services.effects, db, data, contact, state, services.clock())


@pytest.mark.parametrize(("language", "said"), [("zh_CN", "明天再来"), ("en", "tomorrow")])
def test_anonymous_reports_past_the_daily_limit_are_refused_politely(
    services: Services, language: str, said: str
) -> None:
    limit = report_rules(services.default_policy).anonymous_per_chat_per_day
    for _ in range(limit):
        with services.db.write() as db:
            assert "report.filed" in str(report_filed(_call(services, db, CHAT, language)))
    with services.db.write() as db:
        refused = report_filed(_call(services, db, CHAT, language))
    from bot.render import render

    text = render(refused[0], language).text
    assert said in text and "0715-3811061" in text
    with services.db.read() as db:
        assert len(db.exec(select(Report)).all()) == limit, "nothing written for the refused one"
    with services.db.write() as db:  # another chat is not held back
        assert "report.filed" in str(report_filed(_call(services, db, "another-chat", language)))


def _cadre(services: Services, role: Role, place: str) -> User:
    region, township, village = _place(load_policies(), role, place)
    with services.db.write() as db:
        user = User(
            username=f"{role.value}-{place}",
            display_name="王干部",
            password_hash="!",
            role=role.value,
            region_code=region,
            township_code=township,
            village_code=village,
        )
        db.add(user)
        db.flush()
        db.expunge(user)
    return user


def _answer(services: Services, code: str, answer: str) -> None:
    """The village cadre accepts and answers, with notices posted as the web pages would."""
    user = _cadre(services, Role.VILLAGE, "gangkou-bailing")
    rules = report_rules(services.default_policy)
    with services.db.write() as db:
        report = find_report(db, code)
        assert report is not None
        for action, facts in (
            (Action.ACCEPT, {"assignee_id": user.id}),
            (Action.ANSWER, {"answer": answer}),
        ):
            apply(
                db,
                report,
                action,
                user=user,
                cipher=services.cipher,
                now=services.clock(),
                facts=facts,
                post=post_notice,
                rules=rules,
            )


def _named_tip(chat: Chat) -> str:
    chat.send(start=True)
    chat.send(press=MENU)
    chat.send(press="有户人家生活困难（线索）")
    chat.send(press="柏岭村")
    chat.send(SUBJECT)
    chat.send(press="是")
    chat.send(SECRET_TEXT)
    chat.send(press="实名反映")
    chat.send("王小红")
    chat.send("13800138000")
    chat.send(press="是")
    chat.send(press="是")
    said = chat.send("11010519491231002X")
    code = said.split("编号：")[1][:9]
    assert "有了答复，会发到这个聊天里" in said
    return code


async def test_a_named_reporter_gets_the_answer_in_their_chat_and_others_see_only_progress(
    services: Services, clock: FakeClock
) -> None:
    own = Chat(services, clock)
    code = _named_tip(own)
    answer = "已入户核实，<b>纳入监测</b>。"
    _answer(services, code, answer)
    recorder = Recorder()
    await _send_everything(services, recorder)
    notices = [text for to, text in recorder.sent if to == CHAT and answer in text]
    assert notices and code in notices[0] and "提出一次异议" in notices[0]
    stranger = Chat(services, clock, sender="stranger")
    stranger.send(start=True)
    seen = stranger.send(code)
    assert "已经答复" in seen and answer not in seen and "王小红" not in seen
    assert "13800138000" not in seen and SUBJECT not in seen and SECRET_TEXT not in seen
    assert "我是反映人：看答复" in [label for label, _ in stranger.buttons]
    stranger.send(press="我是反映人：看答复")
    assert answer in stranger.send("002X")
    assert answer in own.send(code)


def test_lookups_are_throttled_per_chat(services: Services, clock: FakeClock) -> None:
    code = _named_tip(Chat(services, clock))
    guesser = Chat(services, clock, sender="guesser")
    guesser.send(start=True)
    for _ in range(report_rules(services.default_policy).lookups_per_chat_per_hour):
        assert "查询太频繁" not in guesser.send(code)
    assert "查询太频繁" in guesser.send(code)
    other = Chat(services, clock, sender="other")
    other.send(start=True)
    assert "查询太频繁" not in other.send(code)


def test_the_reporter_objects_once_by_chat_and_it_goes_a_level_up(
    services: Services, clock: FakeClock
) -> None:
    own = Chat(services, clock)
    code = _named_tip(own)
    _answer(services, code, "经核实，不符合条件。")
    shown = own.send(code)
    assert "提出异议" in shown and "对答复提出异议" in [label for label, _ in own.buttons]
    own.send(press="对答复提出异议")
    said = own.send("他家明明欠了很多债，村里没有上门看。")
    assert "已经收到您的异议" in said and "乡镇工作专班" in said
    with services.db.read() as db:
        report = find_report(db, code)
        events = [e.action for e in db.exec(select(AuditEvent)).all()]
    assert report is not None and report.objected and report.routed_level == "township"
    assert report.state == "received" and "report.objected" in events
    again = own.send(code)
    assert "对答复提出异议" not in again


async def test_an_anonymous_reporter_objects_with_the_code_alone(
    services: Services, clock: FakeClock
) -> None:
    chat = Chat(services, clock)
    code = _anonymous_tip(chat)
    with services.db.write() as db:  # the township handles it (the village was not told)
        report = find_report(db, code)
        assert report is not None
    user = _cadre(services, Role.TOWNSHIP, "gangkou")
    with services.db.write() as db:
        report = find_report(db, code)
        assert report is not None
        for action, facts in (
            (Action.ACCEPT, {"assignee_id": user.id}),
            (Action.ANSWER, {"answer": "已核实，纳入监测。"}),
        ):
            apply(db, report, action, user=user, cipher=services.cipher, now=clock(), facts=facts)
    assert "已核实，纳入监测。" in chat.send(code)
    # The session kept no code of an anonymous report: the follow-up asks for it.
    assert "编号" in chat.send(press="对答复提出异议")
    assert "不满意" in chat.send(code)
    said = chat.send("还没有人来过我们村。")
    assert "已经收到您的异议" in said and "县里" in said
    await _send_everything(services, Recorder())
    with services.db.read() as db:
        report = find_report(db, code)
        objected = db.exec(select(AuditEvent).where(AuditEvent.action == "report.objected")).one()
    holding = [table for table, _, text in _rows(services) if code in text]
    assert report is not None and report.objected and report.routed_level == "county"
    assert objected.actor == "anonymous"
    assert holding == ["report"], "once sent, only the report itself holds the code"


@pytest.mark.parametrize(
    "typed",
    [
        "<script>alert(1)</script>",
        '=HYPERLINK("http://x")',
        "\u200b\u200b",
        "🙂",
        "很" * 5000,
        "\x00\x01",
    ],
)
def test_rough_free_text_is_answered_politely(
    services: Services, clock: FakeClock, typed: str
) -> None:
    chat = Chat(services, clock)
    chat.send(start=True)
    chat.send(press=MENU)
    chat.send(press="想问个问题（咨询）")
    chat.send(press="柏岭村")
    said = chat.send(typed)
    assert "系统出了点问题" not in said
    assert "您选择" in said or "请填" in said or "没有写内容" in said, said
    if "您选择" in said:
        chat.send(press="匿名反映")
        with services.db.read() as db:
            report = db.exec(select(Report)).one()
        assert services.cipher.decrypt(report.text_cipher) == typed.strip()


@pytest.mark.parametrize(
    ("language", "said"), [("zh_CN", "这个日期是估算的"), ("en", "This date is an estimate")]
)
def test_deadlines_in_a_year_the_calendar_does_not_know_are_told_as_estimates(
    services: Services, clock: FakeClock, language: str, said: str
) -> None:
    from bot.render import render

    clock.now = datetime(2099, 3, 4, 2, 0, tzinfo=UTC)
    with services.db.write() as db:
        filed = report_filed(_call(services, db, CHAT, language))
    text = render(filed[0], language).text
    assert said in text, text
    assert "2099" in text, "the estimated dates themselves are still given"


@pytest.mark.parametrize(
    ("typed", "asked"),
    [
        ("我想反映一下村里的事", "您想反映什么"),
        ("有意见", "您想反映什么"),
        ("我要举报", "这件事是哪个村的"),
        ("投诉", "您想反映什么"),  # part of the menu button's label: that button
        ("我要投诉", "这件事是哪个村的"),
        ("提个建议", "这件事是哪个村的"),
        ("I want to complain", "Which village"),
    ],
)
def test_plain_words_at_the_menu_open_the_report_dialog(
    services: Services, clock: FakeClock, typed: str, asked: str
) -> None:
    chat = Chat(services, clock, language="en" if typed.isascii() else "zh_CN")
    chat.send(start=True)
    said = chat.send(typed)
    assert asked in said, said
    if asked in ("这件事是哪个村的", "Which village"):  # the words named the kind
        back = chat.send("返回")  # still asked when the person goes back
        assert "您想反映什么" in back or "What would you like to tell us about" in back, back
