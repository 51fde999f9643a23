"""Reading what people type: amounts the way villagers write them, and command words.

``"3万"``, ``"3.5万元"``, ``"30,000"``, ``"三万五"``, ``"两千"`` and full-width digits all
read as numbers; ``"半年"`` and ``"一年"`` read as months; ``"#2"``, ``"＃2"`` and ``"# 2"``
name the second button. Anything else is ``None`` and the step asks again kindly.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Final

MAX_INPUT_CHARS: Final = 1000

_DIGITS: Final = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_SMALL_UNITS: Final = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS: Final = {"万": 10_000, "亿": 100_000_000}
_SUFFIXES: Final = (
    "元钱",
    "块钱",
    "元",
    "块",
    "人民币",
    "个月",
    "月",
    "口人",
    "人",
    "口",
    "%",
    "％",
    "成",
)
_ARABIC: Final = re.compile(r"^(\d+(?:\.\d+)?)(万|千|百|k|K|w|W)?$")
_PRESS: Final = re.compile(r"#?([0-9]{1,6})", re.ASCII)
_YEARS: Final = re.compile(r"(.*?)年(半)?(?:多)?(?:了)?")
_APPROX: Final = ("大约", "大概", "约")

#: Words that act as commands at any step, in both languages.
COMMAND_WORDS: Final = {
    "back": ("返回", "上一步", "后退", "back"),
    "restart": ("重新开始", "重来", "从头开始", "restart", "start over"),
    "help": ("帮助", "怎么填", "不会", "help", "?", "？"),
    "human": ("人工", "找人", "村干部", "客服", "打电话", "human", "operator", "call me"),
    "menu": ("菜单", "主菜单", "menu", "/start", "/menu", "/cancel"),
}


def clean(text: str) -> str:
    """Typed text as the person wrote it, trimmed and bounded in length."""
    return text[: MAX_INPUT_CHARS * 2].strip()[:MAX_INPUT_CHARS]


def normalize(text: str) -> str:
    """Text for matching: NFKC (full-width to half-width), trimmed, bounded."""
    return unicodedata.normalize("NFKC", clean(text)).strip()


def command_of(text: str) -> str | None:
    """The command a typed word names (``"返回"`` → ``"back"``), if any."""
    lowered = normalize(text).lower()
    for command, words in COMMAND_WORDS.items():
        if lowered in words:
            return command
    return None


def press_number(text: str, *, hash_required: bool = False) -> int | None:
    """The button number in ``"#2"``, ``"＃2"``, ``"# 2"`` or ``"２"`` (1-based), or ``None``.

    Full-width forms are folded (NFKC) and spaces dropped first, as Chinese keyboards type
    them. With ``hash_required`` only the ``#`` form counts (a bare ``2`` is an answer).
    """
    compact = "".join(normalize(text).split())
    match = _PRESS.fullmatch(compact)
    if match is None or (hash_required and not compact.startswith("#")):
        return None
    return int(match.group(1))


def parse_months(text: str) -> Decimal | None:
    """A number of months: ``"4"``, ``"4个月"``, ``"半年"`` (6), ``"一年"`` (12), ``"两年半"``."""
    value = "".join(normalize(text).split())
    for prefix in _APPROX:
        value = value.removeprefix(prefix)
    if value in ("半年", "半年多", "半年了"):
        return Decimal(6)
    years = _YEARS.fullmatch(value)
    if years is not None and years.group(1):
        count = parse_amount(years.group(1))
        if count is None:
            return None
        return count * 12 + (6 if years.group(2) else 0)
    return parse_amount(value)


def parse_amount(text: str) -> Decimal | None:
    """A non-negative number from how people write amounts, or ``None``."""
    value = normalize(text).replace(",", "").replace("，", "").replace(" ", "")
    value = value.removeprefix("约").removeprefix("大约").removeprefix("大概")
    for suffix in _SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix):
            value = value[: -len(suffix)]
            break
    if not value:
        return None
    match = _ARABIC.match(value)
    if match:
        return _arabic(match.group(1), match.group(2))
    if re.fullmatch(r"\d+(?:\.\d+)?[万亿]\d*[千百]?", value):
        return _mixed(value)
    return _chinese(value)


def _arabic(number: str, unit: str | None) -> Decimal | None:
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    factor = {"万": 10_000, "w": 10_000, "W": 10_000, "千": 1000, "k": 1000, "K": 1000, "百": 100}
    return amount * factor.get(unit or "", 1)


def _mixed(value: str) -> Decimal | None:
    """``"3万5"`` (= 35,000) and ``"1万2千"``."""
    head, unit, rest = re.split(r"([万亿])", value, maxsplit=1)
    big = Decimal(head) * _BIG_UNITS[unit]
    if not rest:
        return big
    tail = _arabic(rest[:-1], rest[-1]) if rest[-1] in "千百" else None
    if tail is None and rest.isdigit():
        # "3万5" means 3.5万: a lone trailing digit counts the next unit down.
        tail = Decimal(rest) * (_BIG_UNITS[unit] // 10 ** len(rest))
    return None if tail is None else big + tail


def _chinese(value: str) -> Decimal | None:
    """Chinese numerals: ``"三万五千"``, ``"两千"``, ``"十二"``, ``"三万五"``, ``"一百零五"``."""
    known = _DIGITS.keys() | _SMALL_UNITS.keys() | _BIG_UNITS.keys()
    if not value or any(ch not in known for ch in value) or not any(ch in _DIGITS for ch in value):
        return None
    total, section, digit, last_unit, zero_seen = 0, 0, None, 1, False
    for ch in value:
        if ch in _DIGITS:
            zero_seen = zero_seen or _DIGITS[ch] == 0
            digit = _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (1 if digit is None else digit) * _SMALL_UNITS[ch]
            digit, last_unit, zero_seen = None, _SMALL_UNITS[ch], False
        else:
            total += (section + (digit or 0)) * _BIG_UNITS[ch]
            section, digit, last_unit, zero_seen = 0, None, _BIG_UNITS[ch], False
    if digit is not None:
        # Right after a unit a digit counts one unit down (三万五 = 35,000, 两千五 = 2,500);
        # after a 零 it counts ones (一百零五 = 105).
        step_down = last_unit // 10 if last_unit >= 10 and not zero_seen else 1
        section += digit * step_down
    return Decimal(total + section)
