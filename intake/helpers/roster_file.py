"""Reading a roster file (花名册) and checking each row, before anything is written.

The file is seed 001 附件1 as cadres keep it — XLSX, or CSV saved from Excel (UTF-8 or,
as Chinese Excel saves it, GB18030) — with one more column, the helper's phone. Title and
unit lines above the header are allowed, as in the attachment. Rows are read one at a time
(openpyxl's read-only mode), so a file of tens of thousands of rows costs little memory.

Every problem names its row (as the spreadsheet numbers it), its column and the reason,
Chinese first, and never repeats an ID number or a phone number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from intake.exports import NOT_POOR, ROSTER_COLUMNS
from intake.identity import IdProblem, normalize_phone, validate_id_number
from intake.policy import Policy
from intake.users import Scope
from locales import translate

__all__ = [
    "HELPER_PHONE",
    "IMPORT_COLUMNS",
    "HeaderError",
    "Places",
    "Problem",
    "RosterRow",
    "check_row",
    "read_rows",
    "reason",
]

HELPER_PHONE = "包抓干部电话"
#: Seed 001 附件1's columns, in its order, and the helper's phone.
IMPORT_COLUMNS = (*ROSTER_COLUMNS, HELPER_PHONE)
(_NO, _TOWNSHIP, _VILLAGE, _NAME, _ID, _SIZE, _YEAR, _RISK, _REASON, _HELPER, _PHONE) = (
    IMPORT_COLUMNS
)
MAX_HOUSEHOLD = 30
FIRST_EXIT_YEAR = 2013  # 精准扶贫 registration began in 2013-2014 (seed 001 一: 2014年以来)
_HEADER_SEARCH_ROWS = 10
_SPLIT_RISKS = re.compile(r"[、,，;；/\s]+")
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_ID_REASONS = {
    IdProblem.LENGTH: "helpers.roster.id_length",
    IdProblem.CHARACTERS: "helpers.roster.id_characters",
    IdProblem.REGION: "helpers.roster.id_region",
    IdProblem.BIRTH_DATE: "helpers.roster.id_birth_date",
    IdProblem.CHECK_DIGIT: "helpers.roster.id_check_digit",
}


def reason(msgid: str, **params: object) -> str:
    """A problem in both languages, Chinese first (a township office may read either)."""
    return f"{translate('zh_CN', msgid, **params)} / {translate('en', msgid, **params)}"


class HeaderError(ValueError):
    """The file's columns are not the roster's: nothing is imported."""


@dataclass(frozen=True)
class Problem:
    """Why one row was not imported."""

    row: int
    column: str
    reason: str


@dataclass(frozen=True)
class RosterRow:
    """One checked row; the ID number and phone are normalized, never logged."""

    row: int
    region_code: str
    township_code: str
    village_code: str
    head_name: str
    id_number: str
    size: int
    exit_year: int | None
    risk_codes: str
    reason: str | None
    helper_name: str | None
    helper_phone: str | None


def _text(value: Any) -> str:
    """A cell as text: numbers Excel stored as floats lose their ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).translate(_HALF_WIDTH).strip()


def _header_key(value: Any) -> str:
    return re.sub(r"\s+", "", _text(value))


def _csv_lines(path: Path) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            with path.open(encoding=encoding, newline="") as handle:
                yield from csv.reader(handle)
            return
        except UnicodeDecodeError:
            continue
    raise HeaderError(reason("helpers.roster.encoding"))


def _cells(path: Path) -> Iterator[list[Any]]:
    if path.suffix.lower() == ".csv":
        yield from _csv_lines(path)
        return
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
        raise HeaderError(reason("helpers.roster.not_a_workbook")) from exc
    try:
        for values in book.worksheets[0].iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def _check_header(values: list[Any]) -> None:
    found = [_header_key(v) for v in values[: len(IMPORT_COLUMNS)]]
    found += [""] * (len(IMPORT_COLUMNS) - len(found))
    for index, (want, got) in enumerate(zip(IMPORT_COLUMNS, found, strict=True), 1):
        if want != got:
            raise HeaderError(
                reason("helpers.roster.wrong_column", number=index, want=want, got=got or "—")
            )


def read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells as text)`` after the header; HeaderError on wrong columns.

    The header is the first row, among the first ten, that starts with 序号.
    """
    cells = _cells(path)
    header_row = 0
    for header_row, values in enumerate(cells, 1):
        if _header_key(values[0] if values else "") == _NO:
            _check_header(values)
            break
        if header_row >= _HEADER_SEARCH_ROWS:
            raise HeaderError(reason("helpers.roster.no_header", first=_NO))
    else:
        raise HeaderError(reason("helpers.roster.no_header", first=_NO))
    for number, values in enumerate(cells, header_row + 1):
        texts = [_text(v) for v in values[: len(IMPORT_COLUMNS)]]
        yield number, texts + [""] * (len(IMPORT_COLUMNS) - len(texts))


class Places:
    """Township and village names (or codes) of the loaded policies, and the user's scope."""

    def __init__(self, policies: dict[str, Policy], scope: Scope) -> None:
        self.scope = scope
        self.policies = policies
        self.townships: dict[str, tuple[str, str]] = {}
        self.villages: dict[tuple[str, str], str] = {}
        self._village_places: dict[str, tuple[str, str]] = {}
        for policy in policies.values():
            for township in policy.townships:
                for key in (_text(township.name), township.code):
                    self.townships[key] = (policy.region.code, township.code)
                for village in township.villages:
                    self._village_places[village.code] = (policy.region.code, township.code)
                    for key in (_text(village.name), village.code):
                        self.villages[(township.code, key)] = village.code

    def allows_village(self, village_code: str) -> bool:
        """Whether the scope covers a village (by code); an unknown village it does not."""
        place = self._village_places.get(village_code)
        return place is not None and self.scope.allows_place(*place, village_code)


def _place(values: dict[str, str], places: Places, row: int) -> tuple[str, str, str] | Problem:
    found = places.townships.get(values[_TOWNSHIP])
    if found is None:
        return Problem(row, _TOWNSHIP, reason("helpers.roster.unknown_township"))
    region, township = found
    village = places.villages.get((township, values[_VILLAGE]))
    if village is None:
        return Problem(row, _VILLAGE, reason("helpers.roster.unknown_village"))
    if not places.scope.allows_place(region, township, village):
        return Problem(row, _VILLAGE, reason("helpers.roster.outside_scope"))
    return region, township, village


def _size(text: str) -> int | None:
    digits = text.removesuffix("人")
    return int(digits) if digits.isdigit() and 1 <= int(digits) <= MAX_HOUSEHOLD else None


def _year(text: str, today: date) -> tuple[bool, int | None]:
    """``(valid, exit year)``: the year is None for 非贫困户 (seed 001 附件1 备注1)."""
    if text == NOT_POOR:
        return True, None
    digits = text.removesuffix("年")
    if digits.isdigit() and FIRST_EXIT_YEAR <= int(digits) <= today.year:
        return True, int(digits)
    return False, None


def _risks(text: str, policy: Policy) -> str | None:
    codes: list[str] = []
    for part in filter(None, _SPLIT_RISKS.split(text)):
        found = policy.risk_type(part) or next(
            (r for r in policy.risk_types if r.name == part), None
        )
        if found is None:
            return None
        if found.code not in codes:
            codes.append(found.code)
    return ",".join(codes) or None


def _helper(values: dict[str, str], row: int) -> tuple[str | None, str | None] | Problem:
    name, phone_text = values[_HELPER], values[_PHONE]
    if not name and not phone_text:
        return None, None
    if not name:
        return Problem(row, _HELPER, reason("helpers.roster.helper_name_missing"))
    phone = normalize_phone(phone_text) if phone_text else None
    if phone is None:
        return Problem(row, _PHONE, reason("helpers.roster.helper_phone"))
    return name[:64], phone


def check_row(
    row: int, cells: list[str], places: Places, today: date
) -> RosterRow | Problem | None:
    """The checked row, its first problem, or ``None`` for an empty row."""
    if not any(cells):
        return None
    values = dict(zip(IMPORT_COLUMNS, cells, strict=True))
    place = _place(values, places, row)
    if isinstance(place, Problem):
        return place
    region, township, village = place
    if not values[_NAME] or len(values[_NAME]) > 64:
        return Problem(row, _NAME, reason("helpers.roster.name"))
    id_number = validate_id_number(values[_ID], today=today)
    if isinstance(id_number, IdProblem):
        return Problem(row, _ID, reason(_ID_REASONS[id_number]))
    size = _size(values[_SIZE])
    if size is None:
        return Problem(row, _SIZE, reason("helpers.roster.size", most=MAX_HOUSEHOLD))
    year_ok, year = _year(values[_YEAR], today)
    if not year_ok:
        return Problem(row, _YEAR, reason("helpers.roster.year", first=FIRST_EXIT_YEAR))
    risks = _risks(values[_RISK], places.policies[region])
    if risks is None:
        return Problem(row, _RISK, reason("helpers.roster.risk_type"))
    if len(values[_REASON]) > 500:
        return Problem(row, _REASON, reason("helpers.roster.reason_long"))
    helper = _helper(values, row)
    if isinstance(helper, Problem):
        return helper
    return RosterRow(
        row, region, township, village, values[_NAME], id_number, size,
        year, risks, values[_REASON] or None, *helper,
    )  # fmt: skip
