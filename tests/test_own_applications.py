"""我的申请: a chat lists its own applications (code, state in plain words, next date)
without typing a code, and never another chat's. Real service and database, both backends.
"""

from __future__ import annotations

import itertools
from typing import Any

from cadre_support import VILLAGE_A, _steps, id_number
from sqlmodel import select

from bot.conversation import Incoming
from bot.engine import Input
from bot.services import Services
from intake.notices import notice_sink
from intake.procedure import Action, apply
from intake.queue import QueueItem
from intake.users import Role, Scope
from notifications.digest import post_notice

ADMIN = Scope(Role.ADMIN, None, None, None)


class Chat:
    """One villager's chat on the webhook channel; every message has its own id."""

    def __init__(self, services: Services, sender: str) -> None:
        self.services, self.sender = services, sender
        self.ids = itertools.count(1)
        self.buttons: list[tuple[str, str]] = []

    def send(self, given: Input) -> str:
        message = Incoming("webhook", f"{self.sender}-{next(self.ids)}", self.sender, given)
        replies = self.services.conversations.receive(message).replies
        self.buttons = [b for reply in replies for b in reply.buttons] or self.buttons
        return "\n".join(reply.text for reply in replies)

    def press(self, label: str) -> str:
        data = next(d for shown, d in self.buttons if shown == label)
        return self.send(Input(data=data))

    def apply(self, serial: int) -> QueueItem:
        self.send(Input(start=True))
        for kind, value in _steps(VILLAGE_A, "王大山", id_number(serial), "13812345678", True):
            self.send(Input(text=value)) if kind == "type" else self.press(value)
        with self.services.db.read() as db:
            return db.exec(select(QueueItem).order_by(QueueItem.id.desc())).first()  # type: ignore[union-attr,return-value]


def _act(services: Services, item: QueueItem, action: Action, **kw: Any) -> None:
    with services.db.write() as db:
        row = db.get(QueueItem, item.id)
        assert row is not None
        apply(
            db, row, action, scope=ADMIN, actor="user:1", policy=services.default_policy,
            calendar=services.calendar, now=services.clock(), cipher=services.cipher,
            sink=notice_sink(post_notice, lambda _item: services.default_policy), **kw,
        )  # fmt: skip


def test_a_chat_lists_its_own_applications_newest_first_and_no_one_elses(
    services: Services,
) -> None:
    mine, neighbour = Chat(services, "own-1"), Chat(services, "own-2")
    first, second = mine.apply(1), mine.apply(2)
    theirs = neighbour.apply(3)
    listed = mine.send(Input(text="我的申请"))
    assert "您在这里提交的申请（2份）" in listed
    assert listed.index(second.tracking_code) < listed.index(first.tracking_code)
    assert theirs.tracking_code not in listed
    assert "已提交，等待村委会入户核实" in listed
    assert "2026年11月25日提交" in listed
    listed = neighbour.send(Input(data="g:mine"))
    assert theirs.tracking_code in listed and first.tracking_code not in listed


def test_each_state_in_plain_words_with_the_next_date(services: Services) -> None:
    chat = Chat(services, "own-3")
    reviewed, declined = chat.apply(4), chat.apply(5)
    _act(services, reviewed, Action.START_VILLAGE_REVIEW)
    _act(services, reviewed, Action.VILLAGE_REPORT,
         facts={"home_visit": "on", "consent_confirmed": "on", "meeting_result": "ok"})  # fmt: skip
    _act(
        services,
        declined,
        Action.WITHDRAW,
        reason="家里情况好转了",
        facts={"applicant_asked": "on"},
    )
    listed = chat.send(Input(text="看看我的申请"))
    assert "乡镇正在审核，最迟 2026年11月30日 前作出决定。" in listed
    assert "申请已撤回。" in listed
    assert listed.count("编号 ") == 2


def test_nothing_filed_yet_says_how_to_apply_or_look_up_a_code(services: Services) -> None:
    chat = Chat(services, "own-4")
    chat.send(Input(start=True))
    said = chat.press("我的申请")
    assert "这个聊天里还没有提交过申请" in said and "查询进度" in said
    said = chat.send(Input(text="my applications"))
    assert "这个聊天里还没有提交过申请" in said


def test_a_saved_draft_is_mentioned_with_the_way_back_to_it(services: Services) -> None:
    chat = Chat(services, "own-5")
    chat.send(Input(start=True))
    steps = _steps(VILLAGE_A, "王大山", id_number(6), "13812345678", True)
    for kind, value in steps[:-2]:  # up to consent
        chat.send(Input(text=value)) if kind == "type" else chat.press(value)
    chat.press("先不同意，保存起来")
    said = chat.press("我的申请")
    assert "您有一份保存起来、还没提交的申请" in said
    assert "继续上次的申请" in said
