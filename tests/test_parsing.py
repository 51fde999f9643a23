"""Reading numbers the way villagers write them, and command words in both languages.

The table of villager phrasings (``tests/fixtures/phrasings.yaml``) is read through the
real engine: a session stands at the question, the phrase is typed, and what the bot
stored, asked back or did is compared with the expected reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogs import DIALOGS
from bot.engine import Engine, Input, Session
from bot.flow import Context, Effect, Reply, Village
from bot.parsing import (
    MAX_INPUT_CHARS,
    clean,
    code_in,
    command_of,
    normalize,
    parse_amount,
    parse_months,
    press_number,
    read_number,
)


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("30000", 30000),
        ("30,000", 30000),
        ("３００００", 30000),
        ("3万", 30000),
        ("3.5万", 35000),
        ("3.5万元", 35000),
        ("3万5", 35000),
        ("1万2千", 12000),
        ("2w", 20000),
        ("5k", 5000),
        ("三万", 30000),
        ("三万五", 35000),
        ("两千五", 2500),
        ("两千五百", 2500),
        ("十二", 12),
        ("一百零五", 105),
        ("8000元", 8000),
        ("800块", 800),
        ("三个人", 3),
        ("一半", 50),
        ("三成", 30),
        ("百分之五十", 50),
        ("两千零五", 2005),
        ("一万零五百", 10500),
        ("4个月", 4),
        ("5口人", 5),
        ("50%", 50),
        ("0", 0),
        ("0.5", Decimal("0.5")),
    ],
)
def test_amounts_read_as_written(typed: str, value: int | Decimal) -> None:
    assert parse_amount(typed) == Decimal(value)


@pytest.mark.parametrize(
    "typed", ["", "很多", "-5", "abc", "3万万x", "元", "1.2.3", "１２a", "万", "💰", "3e5", "负五"]
)
def test_non_numbers_are_none(typed: str) -> None:
    assert parse_amount(typed) is None
    assert read_number(typed) is None


@pytest.mark.parametrize(
    ("typed", "value", "how"),
    [
        ("四万多", 40000, {"approximate"}),
        ("约2000", 2000, {"approximate"}),
        ("大概 6000 块钱", 6000, {"approximate", "unit_given"}),
        ("三万来块", 30000, {"approximate", "unit_given"}),
        ("一个月500", 500, {"per_month"}),
        ("欠亲戚3万来块", 30000, {"approximate", "in_sentence", "unit_given"}),
        ("一家五口人", 5, {"in_sentence"}),
        ("2.5", Decimal("2.5"), set()),
        ("80块", 80, {"unit_given"}),
    ],
)
def test_how_a_number_was_written_is_told(typed: str, value: int | Decimal, how: set[str]) -> None:
    reading = read_number(typed)
    assert reading is not None and reading.value == Decimal(value)
    flags = {"approximate", "per_month", "in_sentence", "unit_given"}
    assert {flag for flag in flags if getattr(reading, flag)} == how | (
        {"unit_given"} if "万" in typed else set()
    )
    if how & {"approximate", "per_month", "in_sentence"}:
        assert parse_amount(typed) is None  # never stored without a confirmation


@pytest.mark.parametrize("typed", ["两块五", "去年3万今年2万", "2023年", "三四万"])
def test_what_cannot_be_read_for_sure_is_not_guessed(typed: str) -> None:
    assert read_number(typed) is None


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("返回", "back"),
        (" back ", "back"),
        ("重新开始", "restart"),
        ("帮助", "help"),
        ("？", "help"),
        ("人工", "human"),
        ("Human", "human"),
        ("/start", "menu"),
        ("菜单", "menu"),
        ("返回吧", "back"),
        ("转人工", "human"),
        ("我要找村干部", "human"),
        ("打电话给我", "human"),
        ("听不懂", "human"),
        ("3", None),
        ("没有", None),
        ("返回上一步去看看", None),
    ],
)
def test_command_words(typed: str, command: str | None) -> None:
    assert command_of(typed) == command


def test_clean_keeps_text_as_typed_but_bounded() -> None:
    assert clean("  孩子住院了，想问问 ") == "孩子住院了，想问问"
    assert len(clean("字" * 100_000)) == MAX_INPUT_CHARS
    assert normalize("ＡＢＣ，") == "ABC,"


@pytest.mark.parametrize(
    ("typed", "months"),
    [
        ("半年", 6),
        ("一年", 12),
        ("1年", 12),
        ("两年半", 30),
        ("一年半", 18),
        ("大概一年", 12),
        ("一年多", 12),
        ("4个月", 4),
        ("４", 4),
        ("十二", 12),
    ],
)
def test_months_read_as_written(typed: str, months: int) -> None:
    assert parse_months(typed) == Decimal(months)


@pytest.mark.parametrize("typed", ["", "很久", "年", "半", "好几年", "-1"])
def test_non_months_are_none(typed: str) -> None:
    assert parse_months(typed) is None


@pytest.mark.parametrize(
    ("typed", "number"),
    [("#1", 1), ("＃1", 1), ("# 1", 1), ("＃ １", 1), ("#１２", 12), ("#　3", 3), (" #2 ", 2)],
)
def test_button_numbers_as_chinese_keyboards_type_them(typed: str, number: int) -> None:
    assert press_number(typed, hash_required=True) == number
    assert press_number(typed) == number


def test_a_bare_number_is_a_button_only_when_no_hash_is_required() -> None:
    assert press_number("１") == press_number("1") == 1
    assert press_number("1", hash_required=True) is None
    for typed in ("#", "#a", "1a", "#-1", "##1", "", "3万"):
        assert press_number(typed) is None


def test_a_code_is_found_inside_a_sentence() -> None:
    assert code_in("我的编号是VXFJ-3N5V") == "VXFJ-3N5V"
    assert code_in("编号 vxfj 3n5v 谢谢") == "vxfj 3n5v"
    assert code_in("VXFJ-3N5V 和 ABCD-234G") is None  # two codes: ask which
    assert code_in("我忘了编号") is None


# --- the table of villager phrasings ------------------------------------------------------

PHRASINGS = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "phrasings.yaml").read_text(encoding="utf-8")
)
CASES = [
    pytest.param(section["at"], *line.split(" → "), id=f"{section['at']}:{line.split(' → ')[0]}")
    for section in PHRASINGS
    for line in map(str, section["phrasings"])
]
ENGINE = Engine(DIALOGS)
CONTEXT = Context(
    now=datetime(2026, 11, 25, 1, 30, tzinfo=UTC), villages=(Village("v-a", "甲村", "t-1", "一乡"),)
)


def test_the_table_holds_at_least_200_phrasings_and_the_issues_own() -> None:
    assert len(CASES) >= 200
    typed = {case.values[1] for case in CASES}
    issue = {
        "转人工",
        "找人工",
        "人工客服",
        "我要找村干部",
        "打电话给我",
        "听不懂",
        "四万多",
        "4万多",
    }
    issue |= {"3万左右", "三万来块", "差不多两万", "我老伴去年住院自己掏了四万多", "欠亲戚3万来块"}
    issue |= {"一个月500", "三个人", "没", "没有", "不知道", "好", "行", "对", "嗯", "儿子", "2.5"}
    assert issue <= typed
    assert "我的编号是VXFJ-3N5V" in typed


def _reading(at: str, typed: str) -> str:
    """What the bot made of ``typed`` at ``at``, in the table's notation."""
    dialog_id, step_id = at.split(".")
    back_to = ["for_whom"] if dialog_id == "self_application" and step_id != "for_whom" else []
    answers = {"for_whom": "proxy", "phone": "13812345678"}
    start = Session(dialog=dialog_id, step=step_id, history=back_to, answers=answers)
    sprint = ENGINE.resume(start, Input(text=typed), CONTEXT)
    new = sprint.session
    said = [
        p.msgid
        for e in sprint.events
        if isinstance(e, Reply)
        for p in e.parts
        if not isinstance(p, str)
    ]
    done = {e.name: dict(e.data) for e in sprint.events if isinstance(e, Effect)}
    if new.pending:
        return f"? {new.pending['ask'].removeprefix('confirm.')} {new.pending['value']}"
    return _outcome(start, new, said, done) or (f"! {said[0]}" if said else "!")


def _outcome(start: Session, new: Session, said: list[str], done: dict[str, Any]) -> str | None:
    key = DIALOGS[start.dialog].step(start.step).key
    found = (
        ("status_requested" in done, lambda: f"code {done['status_requested']['code']}"),
        ("callback_requested" in done, lambda: f"= {done['callback_requested']['note']!r}"),
        ("draft_saved" in done, lambda: "= 'later'"),
        ("application_submitted" in done, lambda: "= 'confirm'"),
        (new.dialog == "callback" != start.dialog, lambda: "> human"),
        ("restart.done" in said, lambda: "> restart"),
        ("menu.back" in said, lambda: "> menu"),
        (bool(said) and said[0].startswith("help."), lambda: "> help"),
        (new.dialog == "status" != start.dialog, lambda: "> status"),
        (new.step == "for_whom" != start.step, lambda: "> back"),
        (key in new.answers and new.step != start.step, lambda: f"= {new.answers[key]!r}"),
    )
    return next((show() for hit, show in found if hit), None)


@pytest.mark.parametrize(("at", "typed", "expected"), CASES)
def test_villager_phrasings_read_as_meant(at: str, typed: str, expected: str) -> None:
    assert _reading(at, typed) == expected
