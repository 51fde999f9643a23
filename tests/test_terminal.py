"""``hotline chat``: a newcomer completes an application in Chinese in the terminal."""

from __future__ import annotations

import io
import os
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import FakeClock
from db_outage import outage_for
from sqlmodel import col, select

from bot.channels.terminal import run, to_input
from bot.config import Settings
from bot.services import Services, build_services
from intake.notices import notice_sink
from intake.procedure import Action, apply
from intake.queue import QueueItem
from intake.users import Role, Scope
from locales import translate
from notifications.digest import post_notice
from notifications.outbox import OutboxMessage, Priority, enqueue

ANSWERS = [
    "#1",
    "#1",
    "#1",
    "#1",
    "3.5万",
    "否",
    "否",
    "否",
    "否",
    "否",
    "否",
    "3",
    "24000",
    "3万",
    "0",
    "否",
    "否",
    "否",
    "否",
    "否",
    "否",
    "王大山",
    "421223195803151230",
    "13812345678",
    "同意",
    "#1",
]


def test_buttons_are_pressed_by_number_and_text_is_typed() -> None:
    buttons = [("是", "illness:yes"), ("否", "illness:no")]
    assert to_input("#2", buttons).data == "illness:no"
    assert to_input("#9", buttons).text == "#9"
    assert to_input("3万", buttons).text == "3万"


def test_buttons_are_pressed_as_chinese_keyboards_type_the_number() -> None:
    buttons = [("是", "illness:yes"), ("否", "illness:no")]
    for line in ("＃1", "# 1", "＃ １", "#１", " #1 "):
        assert to_input(line, buttons).data == "illness:yes", line
    assert to_input("＃2", buttons).data == "illness:no"
    assert to_input("1", buttons).text == "1"  # a bare number is typed text


def _chat(services: Services, lines: list[str]) -> str:
    feed = iter(lines)
    out = io.StringIO()

    def read() -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    run(services.conversations, user="term-2", language="zh_CN", read=read, out=out)
    return out.getvalue()


def test_an_empty_line_gets_the_question_asked_again(services: Services) -> None:
    shown = _chat(services, ["#1", "", "   "])
    assert shown.count("您好像没有写内容。请再看一下这个问题：") == 2
    assert shown.count("这次是给谁申请？") == 3


def test_village_by_part_of_its_name_and_full_width_presses(services: Services) -> None:
    shown = _chat(services, ["＃1", "# 1", "柏岭", "#1"])
    assert "没看懂" not in shown
    assert "家里有人得了大病、重病，看病花了很多钱吗？" in shown
    assert shown.rstrip().splitlines()[-3].startswith("最近12个月看病")  # then hint, buttons


def test_a_whole_application_in_the_terminal(services: Services) -> None:
    lines = iter(ANSWERS)
    out = io.StringIO()

    def read() -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    run(services.conversations, user="term-1", language="zh_CN", read=read, out=out)
    shown = out.getvalue()
    assert "[#1] 申请防返贫监测" in shown
    assert "申请已提交！您的办理编号是：" in shown
    assert "乡镇在3个工作日内入户复核并作出决定" in shown


def test_the_installed_command_runs_a_chat_on_a_fresh_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "HOTLINE_DATA_DIR": str(tmp_path / "var")}
    env.pop("HOTLINE_DATABASE_URL", None)
    hotline = Path(sys.executable).with_name("hotline")
    result = subprocess.run(
        [str(hotline), "chat", "--village", "gangkou-youzha"],
        input="\n".join(["#1", *ANSWERS[2:], "/quit"]) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "已为您选好村：油榨村" in result.stdout
    assert "申请已提交！您的办理编号是：" in result.stdout
    assert (tmp_path / "var" / "hotline.db").exists()
    assert "421223195803151230" not in result.stderr


# --- the terminal shows what a villager is told (issue 10) -------------------------------

ADMIN = Scope(Role.ADMIN, None, None, None)


def _apply_in_terminal(services: Services, user: str) -> QueueItem:
    lines = iter(ANSWERS)

    def read() -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    run(services.conversations, user=user, language="zh_CN", read=read, out=io.StringIO(),
        poll_seconds=None)  # fmt: skip
    with services.db.read() as db:
        item = db.exec(select(QueueItem).order_by(col(QueueItem.id).desc())).first()
    assert item is not None
    return item


def _start_village_review(services: Services, item: QueueItem) -> None:
    """What a cadre's press on the item page does: the notice goes to the outbox."""
    with services.db.write() as db:
        row = db.get(QueueItem, item.id)
        assert row is not None
        apply(
            db, row, Action.START_VILLAGE_REVIEW, scope=ADMIN, actor="user:1",
            policy=services.default_policy, calendar=services.calendar, now=services.clock(),
            cipher=services.cipher,
            sink=notice_sink(post_notice, lambda _item: services.default_policy),
        )  # fmt: skip


def _statuses(services: Services, recipient: str) -> list[str]:
    with services.db.read() as db:
        rows = db.exec(select(OutboxMessage).where(OutboxMessage.recipient == recipient))
        return [row.status for row in rows]


def _notice_for(services: Services, recipient: str, text: str) -> None:
    with services.db.write() as db:
        enqueue(db, channel="terminal", recipient=recipient, payload={"text": text, "buttons": []},
                priority=Priority.NOTICE, now=services.clock())  # fmt: skip


def test_a_notice_waiting_is_printed_when_the_chat_opens_and_marked_sent(
    services: Services,
) -> None:
    item = _apply_in_terminal(services, "term-n1")
    _start_village_review(services, item)
    _notice_for(services, "term-someone-else", "别人的通知")
    shown = _chat_as(services, "term-n1", [])
    assert translate("zh_CN", "notice.village_review") in shown
    assert item.tracking_code in shown
    assert "别人的通知" not in shown
    assert _statuses(services, "term-n1") == ["sent"]
    assert _statuses(services, "term-someone-else") == ["pending"]  # given back, unsent
    assert translate("zh_CN", "notice.village_review") not in _chat_as(services, "term-n1", [])


def _chat_as(services: Services, user: str, lines: list[str]) -> str:
    feed, out = iter(lines), io.StringIO()

    def read() -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    run(services.conversations, user=user, language="zh_CN", read=read, out=out,
        poll_seconds=None)  # fmt: skip
    return out.getvalue()


def _until(condition: object, bound: float = 20.0) -> None:
    """Poll ``condition`` (a callable) until it holds, for at most ``bound`` seconds."""
    give_up = time.monotonic() + bound
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < give_up, "condition never held"
        time.sleep(0.02)


def test_a_notice_arriving_while_the_chat_waits_is_printed(services: Services) -> None:
    lines: queue.Queue[str | None] = queue.Queue()
    out = io.StringIO()

    def read() -> str:
        line = lines.get()
        if line is None:
            raise EOFError
        return line

    chat = threading.Thread(
        target=run,
        args=(services.conversations,),
        kwargs={"user": "term-n2", "language": "zh_CN", "read": read, "out": out,
                "poll_seconds": 0.05},
    )  # fmt: skip
    chat.start()
    try:
        _until(lambda: "/quit" in out.getvalue())  # the chat is open and waiting
        _notice_for(services, "term-n2", "【防返贫监测】您的申请村委会已经开始核实。")
        _until(lambda: "您的申请村委会已经开始核实" in out.getvalue())
        _until(lambda: _statuses(services, "term-n2") == ["sent"])
    finally:
        lines.put(None)
        chat.join(timeout=60)
    assert not chat.is_alive()
    assert out.getvalue().count("您的申请村委会已经开始核实") == 1


def test_a_line_typed_while_the_database_is_away_is_refused_politely_and_the_chat_goes_on(
    settings: Settings, clock: FakeClock
) -> None:
    with outage_for(settings) as (relayed, outage):
        services = build_services(relayed, clock=clock, rng=random.Random(2026))
        steps = iter(["#1", "down", "#1", "up", "#1"])
        out = io.StringIO()

        def read() -> str:
            for line in steps:
                if line == "down":
                    outage.down(services.db)
                elif line == "up":
                    outage.up(services.db)
                else:
                    return line
            raise EOFError

        try:
            run(services.conversations, user="term-9", language="zh_CN", read=read, out=out,
                poll_seconds=None)  # fmt: skip
        finally:
            services.db.dispose()
    shown = out.getvalue()
    assert "没有收下，请过一会儿再发一次" in shown
    # The refused press was not taken: the press after the outage answers the same question.
    assert shown.count("这次是给谁申请？") == 1 and "洞泉村" in shown
