"""Reading numbers the way villagers write them, and command words in both languages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.parsing import (
    MAX_INPUT_CHARS,
    clean,
    command_of,
    normalize,
    parse_amount,
    parse_months,
    press_number,
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
        ("约2000", 2000),
        ("大概 6000 块钱", 6000),
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
    "typed", ["", "很多", "-5", "abc", "3万万x", "元", "1.2.3", "１２a", "万", "💰", "3e5"]
)
def test_non_numbers_are_none(typed: str) -> None:
    assert parse_amount(typed) is None


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
        ("返回吧", None),
        ("3", None),
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
