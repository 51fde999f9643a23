"""Reading numbers the way villagers write them.

``"3万"``, ``"3.5万元"``, ``"30,000"``, ``"三万五"``, ``"两千"`` and full-width digits read as
numbers (Chinese numerals through ``cn2an``); ``"半年"`` and ``"一年"`` read as months;
``"#2"``, ``"＃2"`` and ``"# 2"`` name the second button. On top of the exact forms,
:func:`read_number` tells how a number was written, so that the dialog can confirm what
it guessed: approximately (``"四万多"``, ``"3万左右"``, ``"差不多两万"``), per month
(``"一个月500"``), or inside a sentence (``"欠亲戚3万来块"``). Words that mean an
intent (``"转人工"``, ``"没有"``) are data: see :mod:`locales.intents`.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

import cn2an  # type: ignore[import-untyped]

from locales.intents import default_intents

MAX_INPUT_CHARS: Final = 1000

#: Units written after a number; dropped before reading it (longest first).
_SUFFIXES: Final = (
    "元人民币",
    "块人民币",
    "人民币",
    "元钱",
    "块钱",
    "块",
    "元",
    "yuan",
    "rmb",
    "个多月",
    "个月",
    "月",
    "口人",
    "个人",
    "人",
    "口",
    "位",
    "%",
)
#: Units that make a yuan amount explicit (a bare "2.5" might mean 2.5万).
_MONEY_UNITS: Final = ("万", "千", "百", "元", "块", "人民币", "yuan", "rmb", "w", "k")
_APPROX_BEFORE: Final = (
    "差不多",
    "大概",
    "大约",
    "大致",
    "将近",
    "接近",
    "估计",
    "估摸",
    "约",
    "快",
)
_APPROX_AFTER: Final = ("左右", "上下", "出头", "多点", "多", "来", "几", "余")
_PER_MONTH: Final = re.compile(
    r"(?:每个月|每月|一个月|一月|月收入|月入|/月|permonth|amonth|/month|monthly)"
)
_ARABIC: Final = re.compile(r"(\d+(?:\.\d+)?)(万|千|百|k|w)?")
_PRESS: Final = re.compile(r"#?([0-9]{1,6})", re.ASCII)
_YEARS: Final = re.compile(r"(.*?)年(半)?")
_MONTHS_TOKEN: Final = re.compile(
    r"(半年多?|[0-9一二两三四五六七八九十]+(?:个多月|个月|年半|年多|年))"
)
_CHINESE_NUMERAL: Final = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟萬廿点"
#: A run of digits or numerals inside a sentence, with what follows it.
_TOKEN: Final = re.compile(rf"[0-9.{_CHINESE_NUMERAL}]+(?:[kw](?![a-z]))?")
_CODE_IN_TEXT: Final = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z0-9]{4}[\s\-‐‑‒–—―]*[A-Za-z0-9]{4})(?![A-Za-z0-9])"
)
#: After a numeral in a sentence, these show it is the quantity asked for (not 一家, 一起).
_COUNTED: Final = ("元", "块", "万", "千", "百", "口", "个人", "人", "位", "个月", "月", "%")


@dataclass(frozen=True)
class Reading:
    """A number as typed: its value and how sure we can be of what the person meant."""

    value: Decimal
    #: "四万多", "3万左右", "差不多两万": a round figure, confirm it back.
    approximate: bool = False
    #: "一个月500": ``value`` is per month; the step decides whether to convert.
    per_month: bool = False
    #: Read out of a longer sentence ("我老伴住院自己掏了四万多").
    in_sentence: bool = False
    #: A money unit was written (万, 元, 块…): "2.5万" is not asked "是 2.5 万元吗？".
    unit_given: bool = False


def clean(text: str) -> str:
    """Typed text as the person wrote it, trimmed and bounded in length."""
    return text[: MAX_INPUT_CHARS * 2].strip()[:MAX_INPUT_CHARS]


def normalize(text: str) -> str:
    """Text for matching: NFKC (full-width to half-width), trimmed, bounded."""
    return unicodedata.normalize("NFKC", clean(text)).strip()


def command_of(text: str) -> str | None:
    """The command a typed word names (``"返回"`` → ``"back"``, ``"转人工"`` → ``"human"``).

    The words are data (``locales/*/intents.yaml``), matched after folding full-width
    characters, spaces, punctuation and particles such as 吧 or 啊.
    """
    return default_intents().command(text)


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


def code_in(text: str) -> str | None:
    """The one tracking-code-shaped word in a sentence (``"我的编号是VXFJ-3N5V"``), if any."""
    found = _CODE_IN_TEXT.findall(normalize(text))
    return str(found[0]) if len(found) == 1 else None


def parse_amount(text: str) -> Decimal | None:
    """A non-negative number written exactly (``"3.5万"``, ``"三万五"``), or ``None``.

    Approximate, per-month and in-sentence forms give ``None`` here: they need a
    confirmation, which :func:`read_number` lets the dialog ask for.
    """
    reading = read_number(text)
    if reading is None or reading.approximate or reading.per_month or reading.in_sentence:
        return None
    return reading.value


def parse_months(text: str) -> Decimal | None:
    """A number of months: ``"4"``, ``"4个月"``, ``"半年"`` (6), ``"一年"`` (12), ``"两年半"``."""
    reading = read_months(text)
    return None if reading is None or reading.in_sentence else reading.value


def read_months(text: str) -> Reading | None:
    """Months as written, also ``"一年多"`` or ``"失业快半年了"`` (approximate, in a sentence)."""
    value, approximate = _strip_approx(_compact(text))
    value = value.rstrip("了啦")
    whole = _months_whole(value)
    if whole is not None:
        return Reading(whole[0], approximate or whole[1])
    found = _MONTHS_TOKEN.findall(value)
    inner = _months_whole(found[0]) if len(found) == 1 else None
    return None if inner is None else Reading(inner[0], True, in_sentence=True)


def _months_whole(value: str) -> tuple[Decimal, bool] | None:
    """``"半年"``, ``"两年半"``, ``"一年多"``, ``"两个多月"``, ``"4"`` as months."""
    rough = "多" in value
    if value in ("半年", "半年多"):
        return Decimal(6), rough
    years = _YEARS.fullmatch(value.removesuffix("多"))
    if years is not None and years.group(1):
        count = _whole(years.group(1))
        return None if count is None else (count * 12 + (6 if years.group(2) else 0), rough)
    reading = _whole_reading(value)
    return None if reading is None else (reading[0], reading[1] or rough)


def read_number(text: str) -> Reading | None:
    """A non-negative number and how it was written, or ``None`` if there is none (or two).

    ``"四万多"`` → 40,000 approximate; ``"一个月500"`` → 500 per month; ``"三个人"`` → 3;
    ``"一半"`` → 50 (a share); ``"我老伴去年住院自己掏了四万多"`` → 40,000 approximate,
    in a sentence.
    """
    value = _compact(text)
    if not value or "-" in value or "负" in value:
        return None
    per_month = bool(_PER_MONTH.search(value))
    value = _PER_MONTH.sub("", value)
    whole = _whole_reading(value)
    if whole is not None:
        return Reading(whole[0], whole[1], per_month, False, whole[2])
    found = _counted_tokens(value)
    if len(found) != 1:
        return None
    number, approximate, unit_given = found[0]
    return Reading(number, approximate, per_month, True, unit_given)


def _compact(text: str) -> str:
    """Lower case, half-width, without spaces or thousands separators."""
    value = normalize(text).lower()
    value = re.sub(r"(?<=\d)[,，](?=\d{3})", "", value)
    return "".join(value.split())


def _strip_approx(value: str) -> tuple[str, bool]:
    """``value`` without 大约/差不多 before it; whether one was there."""
    for word in _APPROX_BEFORE:
        if value.startswith(word) and len(value) > len(word):
            return value[len(word) :], True
    return value, False


def _whole_reading(value: str) -> tuple[Decimal, bool, bool] | None:
    """The whole text as one number: ``(value, approximate, unit_given)``, or ``None``."""
    value, approximate = _strip_approx(value)
    if value in ("一半", "一半多", "一大半"):
        return Decimal(50), value != "一半", False
    if value.startswith("百分之"):
        share = _whole_reading(value[3:])
        return None if share is None else (share[0], approximate or share[1], False)
    unit_given = any(unit in value for unit in _MONEY_UNITS)
    for _ in range(2):  # "四万多块钱": the unit, then 多, then "三万来块": 块 then 来
        value = _drop_suffix(value, _SUFFIXES)[0]
        value, rough = _drop_suffix(value, _APPROX_AFTER)
        approximate = approximate or rough
    if value.endswith("成") and len(value) > 1:  # 三成 = 30 %
        tenths = _number(value[:-1])
        return None if tenths is None else (tenths * 10, approximate, False)
    number = _number(value)
    return None if number is None else (number, approximate, unit_given)


def _drop_suffix(value: str, suffixes: tuple[str, ...]) -> tuple[str, bool]:
    for suffix in suffixes:
        if value.endswith(suffix) and len(value) > len(suffix):
            return value[: -len(suffix)], True
    return value, False


def _counted_tokens(value: str) -> list[tuple[Decimal, bool, bool]]:
    """The numbers of a sentence that count something (``"五口人"``, ``"3万来块"``, ``"500"``).

    A lone Chinese numeral followed by no unit is a word, not a number (一家, 一起, 一直).
    """
    found: list[tuple[Decimal, bool, bool]] = []
    for match in _TOKEN.finditer(value):
        token, before, after = match.group(), value[: match.start()], value[match.end() :]
        counted = after.startswith(_COUNTED + _APPROX_AFTER)
        if re.search(r"[a-z]$", before) or re.match(r"[a-z]", after):
            return []  # 12a, x3: a code or a typo, not an amount
        if before.endswith(("块", "元", "万", "千")) and not counted:
            return []  # 两块五, 3万5 in words: a trailing digit we will not guess at
        if not counted and not any(ch.isdigit() for ch in token) and not _has_unit(token):
            continue
        if after.startswith(("年", "号", "岁", "点", "次")):
            continue  # 2023年, 3号, 65岁: not the amount asked for
        end = re.match(r"(?:元|块|万|千)?(?:左右|上下|出头|多|来|余)?", after)
        rough = bool(end and re.search("左右|上下|出头|多|来|余", end.group()))
        reading = _whole_reading(token + (end.group() if end else ""))
        if reading is None:
            return []
        near = before.endswith(_APPROX_BEFORE) or rough or reading[1]
        unit_given = reading[2] or after.startswith(("元", "块"))
        found.append((reading[0], near, unit_given))
    return found


def _has_unit(token: str) -> bool:
    return any(ch in "十百千万亿拾佰仟萬" for ch in token)


def _number(value: str) -> Decimal | None:
    """One number, arabic (exact, with 万/千/百/k/w) or Chinese and mixed (``cn2an``)."""
    if not value:
        return None
    arabic = _ARABIC.fullmatch(value)
    if arabic is not None:
        factor = {"万": 10_000, "w": 10_000, "千": 1000, "k": 1000, "百": 100}
        try:
            return Decimal(arabic.group(1)) * factor.get(arabic.group(2) or "", 1)
        except InvalidOperation:
            return None
    if not all(ch.isdigit() or ch in _CHINESE_NUMERAL or ch == "." for ch in value):
        return None
    return _cn2an(value)


def _cn2an(value: str) -> Decimal | None:
    """Chinese and mixed numerals (三万五, 两千零五, 3万5, 1万2千) through ``cn2an``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns about long decimals; we round below
        try:
            number = cn2an.cn2an(value, "smart")
        except (ValueError, KeyError, IndexError, TypeError):
            return None
    result = Decimal(str(number)).quantize(Decimal("0.01"))
    if result < 0:
        return None
    return result.to_integral_value() if result == result.to_integral_value() else result


def _whole(value: str) -> Decimal | None:
    reading = _whole_reading(value)
    return None if reading is None else reading[0]


__all__ = [
    "MAX_INPUT_CHARS",
    "Reading",
    "clean",
    "code_in",
    "command_of",
    "normalize",
    "parse_amount",
    "parse_months",
    "press_number",
    "read_months",
    "read_number",
]
