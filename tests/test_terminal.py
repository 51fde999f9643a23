"""``hotline chat``: a newcomer completes an application in Chinese in the terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.channels.terminal import run, to_input
from bot.services import Services

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
    assert shown.rstrip().splitlines()[-3].startswith("今年看病")  # then the hint, buttons


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
