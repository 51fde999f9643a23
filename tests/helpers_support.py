"""Shared parts of the helper's-month tests: a migrated database, valid ID numbers, rosters."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook

from bot.services import upgrade
from intake.crypto import FieldCipher
from intake.db import Database, import_models
from intake.helpers.roster_file import IMPORT_COLUMNS
from intake.identity import id_check_digit
from intake.policy import Policy, load_policies
from intake.users import Role, Scope

#: The model modules the lead adds to intake.db.MODEL_MODULES when wiring issue 7.
HELPER_MODELS = ("intake.helpers.models", "notifications.timers")
SECRET = "helpers-test-secret-0123456789abcdefghijklmnop"
GANGKOU = Scope(Role.TOWNSHIP, "gangkou", "gangkou", None)


def migrated(url: str) -> Database:
    """A database with every migration applied (the helper tables come from 0007)."""
    import_models(HELPER_MODELS)
    upgrade(url)
    return Database(url)


def cipher() -> FieldCipher:
    return FieldCipher(SECRET)


def policies() -> dict[str, Policy]:
    return load_policies()


def id_number(n: int, *, wrong_check: bool = False) -> str:
    """The n-th of a family of valid ID numbers (湖北 420102, born 1950 onwards)."""
    born = date(1950, 1, 1) + timedelta(days=n // 1000)
    first17 = f"420102{born:%Y%m%d}{n % 1000:03d}"
    check = id_check_digit(first17)
    if wrong_check:
        check = "0" if check != "0" else "1"
    return first17 + check


def row(
    n: int,
    *,
    village: str = "柏岭村",
    township: str = "港口乡",
    helper: str = "李帮扶",
    phone: str = "13800000001",
    size: object = 4,
    year: object = 2016,
    risk: str = "因重大疾病",
    reason: str = "住院费用高",
    id_text: str | None = None,
) -> list[object]:
    """One roster row in IMPORT_COLUMNS order."""
    return [n, township, village, f"户主{n}", id_text or id_number(n), size, year, risk,
            reason, helper, phone]  # fmt: skip


def write_xlsx(path: Path, rows: Iterable[Sequence[object]], *, title: bool = True,
               header: Sequence[str] = IMPORT_COLUMNS) -> Path:  # fmt: skip
    """A roster as cadres keep it: a title line, a unit line, the header, the rows."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    if title:
        sheet.append(["石泉县返贫风险对象花名册（2026年12月）"])
        sheet.append(["单位：港口乡"])
    sheet.append(list(header))
    for values in rows:
        sheet.append(list(values))
    book.save(path)
    return path


def write_csv(path: Path, rows: Iterable[Sequence[object]], *, encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(IMPORT_COLUMNS)
        writer.writerows(rows)
    return path
