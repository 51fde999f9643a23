"""Resident ID numbers (GB 11643-1999) and Chinese phone numbers: validate, mask, redact.

Villagers type these on phone keyboards, often with full-width digits, spaces or hyphens, so
every function here first brings input to one canonical form. Masked forms are what screens
show; :func:`redact` and :class:`RedactingFilter` keep the raw values out of logs.
"""

from __future__ import annotations

import enum
import logging
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from intake.tracking import normalize_tracking_code

__all__ = [
    "PROVINCE_CODES",
    "IdProblem",
    "RedactingFilter",
    "id_check_digit",
    "mask_id_number",
    "mask_phone",
    "normalize_id_number",
    "normalize_phone",
    "redact",
    "redact_tracking_codes",
    "validate_id_number",
]

_SHANGHAI = ZoneInfo("Asia/Shanghai")

# Full-width ASCII (U+FF01..U+FF5E) to half-width, and the ideographic space to a space.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Dashes people put inside numbers (escaped for use inside a regex character class).
_DASHES = r"\-‐‑‒–—―－"
_SEPARATORS = re.compile(rf"[\s{_DASHES}]+")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_SHAPE = re.compile(r"\d{17}[\dX]")

#: First two digits of a valid number (GB/T 2260 provinces; 71 Taiwan, 81 Hong Kong, 82 Macao;
#: 83 is used on residence permits of Taiwan residents).
PROVINCE_CODES = frozenset(
    {
        *("11", "12", "13", "14", "15"),  # North China
        *("21", "22", "23"),  # North-east
        *("31", "32", "33", "34", "35", "36", "37"),  # East
        *("41", "42", "43", "44", "45", "46"),  # Central and South
        *("50", "51", "52", "53", "54"),  # South-west
        *("61", "62", "63", "64", "65"),  # North-west
        *("71", "81", "82", "83"),
    }
)


def _half_width(raw: str) -> str:
    return raw.translate(_HALF_WIDTH)


def normalize_id_number(raw: str) -> str:
    """Strip spaces and hyphens, turn full-width characters half-width, upper-case ``x``.

    >>> normalize_id_number("４２０１０２ 19900101-123x")
    '42010219900101123X'
    """
    return _SEPARATORS.sub("", _half_width(raw)).upper()


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits.

    Raises ValueError unless ``first17`` is exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the check digit needs exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


class IdProblem(enum.StrEnum):
    """Why an ID number was refused, so the bot can re-ask with the right hint."""

    LENGTH = enum.auto()  # not 18 characters
    CHARACTERS = enum.auto()  # not 17 digits followed by a digit or X
    REGION = enum.auto()  # first two digits are no province code
    BIRTH_DATE = enum.auto()  # digits 7-14 are no real date, or in the future, or before 1900
    CHECK_DIGIT = enum.auto()  # last character does not match (most often a typo)


def validate_id_number(raw: str, *, today: date | None = None) -> str | IdProblem:
    """Return the normalized number, or the first problem found.

    Check ``isinstance(result, IdProblem)`` first: an IdProblem is also a ``str``.
    Checks run in the order of IdProblem's members; ``today`` defaults to today in Shanghai.
    """
    value = normalize_id_number(raw)
    if len(value) != 18:
        return IdProblem.LENGTH
    if not value.isascii() or not _ID_SHAPE.fullmatch(value):
        return IdProblem.CHARACTERS
    if value[:2] not in PROVINCE_CODES:
        return IdProblem.REGION
    if not _is_birth_date(value[6:14], today or datetime.now(_SHANGHAI).date()):
        return IdProblem.BIRTH_DATE
    if id_check_digit(value[:17]) != value[17]:
        return IdProblem.CHECK_DIGIT
    return value


def _is_birth_date(yyyymmdd: str, today: date) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= today


def mask_id_number(value: str) -> str:
    """Keep the first 3 and last 4 characters: ``"420***********123X"``.

    Input of any other shape is masked entirely, keeping only its length; never raises.
    """
    normalized = normalize_id_number(value)
    if not normalized.isascii() or not _ID_SHAPE.fullmatch(normalized):
        return "*" * len(value)
    return normalized[:3] + "*" * 11 + normalized[-4:]


_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area codes 010 and 02x have three digits, all others four; subscriber numbers 7-8 digits.
_LANDLINE = re.compile(r"(0(?:10|2\d)|0[3-9]\d\d)([2-9]\d{6,7})")
_PHONE_NOISE = re.compile(rf"[\s{_DASHES}()（）]+")


def normalize_phone(raw: str) -> str | None:
    """Canonical ``"13812345678"`` (mobile) or ``"0715-3811061"`` (landline), else None.

    Accepts +86 / 0086 / 86 prefixes, spaces, hyphens, brackets and full-width digits.
    Without a separator a landline is split by the area-code rule (010 and 02x are three
    digits, other area codes four), so ``"07153811061"`` gives ``"0715-3811061"``.
    """
    text = _PHONE_NOISE.sub("", _half_width(raw))
    international = False
    if text.startswith("+86"):
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if not text.isascii() or not text.isdigit():
        return None
    if _MOBILE.fullmatch(text):
        return text
    if international and not text.startswith("0"):
        text = "0" + text  # +86 715 3811061: the trunk 0 is dropped abroad
    landline = _LANDLINE.fullmatch(text)
    if landline:
        return f"{landline[1]}-{landline[2]}"
    return None


def mask_phone(value: str) -> str:
    """``"138****5678"`` for a mobile, ``"0715-***1061"`` for a landline.

    Anything that is no phone number is masked entirely, keeping its length; never raises.
    """
    phone = normalize_phone(value)
    if phone is None:
        return "*" * len(value)
    if "-" not in phone:
        return phone[:3] + "****" + phone[-4:]
    area, number = phone.split("-")
    return f"{area}-{'*' * (len(number) - 4)}{number[-4:]}"


_D = "0-9０-９"  # a digit, half- or full-width
_SEP = rf"[ \u3000{_DASHES}]?"  # at most one separator between two characters
_REDACTABLE = re.compile(
    rf"(?<![{_D}])(?:"
    rf"(?P<id>(?:[{_D}]{_SEP}){{17}}[{_D}XxＸｘ])"
    rf"|(?P<phone>(?:(?:\+|＋)?[8８][6６]{_SEP})?[1１][3-9３-９](?:{_SEP}[{_D}]){{9}}"
    rf"|[(（]?[0０][{_D}]{{2,3}}[)）]?{_SEP}[2-9２-９](?:{_SEP}[{_D}]){{6,7}})"
    rf")(?![{_D}])"
)


def _mask_match(match: re.Match[str]) -> str:
    text = match[0]
    if match["id"] is not None:
        return mask_id_number(text)
    return mask_phone(text)


def redact(text: str) -> str:
    """Mask everything in free text that looks like an ID number or a phone number.

    Errs on the side of masking: any 18-character ID shape (check digit not required, with
    spaces, hyphens or full-width digits), any mobile and any landline shape is replaced by
    its masked form. Digits inside a longer run of digits are left alone.
    """
    return _REDACTABLE.sub(_mask_match, text)


#: Something shaped like a tracking code (4 + 4 symbols, an optional hyphen); only those
#: whose check symbol is right are masked, so ordinary words and hex digests stay readable.
_CODE_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9A-Za-z]{4}-[0-9A-Za-z]{4}|[0-9A-Za-z]{8})(?![0-9A-Za-z])"
)
#: Argument types a log line may show as they are; anything else (a dict of Bot API
#: parameters, SQL bind parameters, a parsed update) is a payload and is hidden.
_SCALARS = (int, float, bool, type(None))
HIDDEN_PAYLOAD = "<payload hidden>"


#: SQLAlchemy puts a failed statement's bind parameters into its exceptions' text.
_SQL_PARAMETERS = re.compile(r"^\[parameters: .*$", re.MULTILINE)


def _redact_trace(text: str) -> str:
    return redact_tracking_codes(redact(_SQL_PARAMETERS.sub("[parameters: hidden]", text)))


def redact_tracking_codes(text: str) -> str:
    """Mask every valid tracking code in ``text``: a code unlocks a case's status."""

    def mask(match: re.Match[str]) -> str:
        return "****-****" if normalize_tracking_code(match[0]) is not None else match[0]

    return _CODE_SHAPE.sub(mask, text)


def _safe_args(args: Any) -> Any:
    """Log arguments with payloads replaced: strings and numbers pass (and are redacted
    after formatting); dicts, lists, bytes and objects never reach a log line."""
    if isinstance(args, tuple):
        return tuple(a if isinstance(a, (str, *_SCALARS)) else HIDDEN_PAYLOAD for a in args)
    return HIDDEN_PAYLOAD  # a mapping used for %(name)s formatting


class RedactingFilter(logging.Filter):
    """A logging filter that masks ID numbers, phone numbers and tracking codes in messages
    and tracebacks, and hides structured payloads passed as arguments, at every level.

    Libraries log payloads at DEBUG (python-telegram-bot every Bot API call's parameters,
    SQLAlchemy every statement's bind parameters): chat ids, texts sent to villagers,
    decision reasons. Only scalar arguments are formatted into a line.

    Attach it to *handlers* (``handler.addFilter(RedactingFilter())``): a filter on a logger
    does not see records propagated from its child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted, formatted text; never drop it."""
        if record.args:
            record.args = _safe_args(record.args)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not let raw args slip through
            message = f"{record.msg} {record.args!r}"  # payloads already hidden
        record.msg = redact_tracking_codes(redact(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _redact_trace(record.exc_text)
        if record.stack_info:
            record.stack_info = _redact_trace(record.stack_info)
        return True
