"""Roster import (花名册) on both databases: what goes in, what is refused and why."""

from __future__ import annotations

import io
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers_support import (
    GANGKOU,
    cipher,
    id_number,
    migrated,
    policies,
    row,
    write_csv,
    write_xlsx,
)
from openpyxl import load_workbook
from sqlmodel import col, func, select

from intake.audit import AuditEvent
from intake.helpers.models import Helper, HelperAssignment, RosterEntry
from intake.helpers.roster import BATCH, import_roster, rejected_xlsx
from intake.helpers.roster_file import IMPORT_COLUMNS, HeaderError
from intake.households import Household
from intake.users import Role, Scope

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)


def _import(db, path: Path, scope: Scope = GANGKOU, **kw):  # type: ignore[no-untyped-def]
    return import_roster(db, cipher(), path, scope=scope, policies=policies(), actor="user:1",
                         now=NOW, today=TODAY, **kw)  # fmt: skip


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_valid_rows_make_households_helpers_and_assignments(
    database_url: str, tmp_path: Path
) -> None:
    db = migrated(database_url)
    rows = [
        row(1),
        row(2, helper="王帮扶", phone="13800000002"),
        row(3, year="非贫困户", risk="因重大疾病、因就业不稳"),
    ]
    path = write_xlsx(tmp_path / "r.xlsx", rows)
    report = _import(db, path)
    assert (report.created, report.updated, report.problems) == (3, 0, [])
    with db.read() as session:
        households = list(session.exec(select(Household).order_by(col(Household.id))))
        assert [h.head_name for h in households] == ["户主1", "户主2", "户主3"]
        assert households[2].poverty_exit_year is None and households[0].poverty_exit_year == 2016
        assert all(id_number(1) not in h.id_cipher for h in households)  # encrypted at rest
        helpers = list(session.exec(select(Helper).order_by(col(Helper.id))))
        assert [h.name for h in helpers] == ["李帮扶", "王帮扶"]
        assert all("138" not in (h.phone_cipher or "") for h in helpers)
        entry = session.exec(
            select(RosterEntry).where(RosterEntry.household_id == households[2].id)
        ).one()
        assert entry.risk_codes == "01,05"
        assert cipher().unseal(entry.reason_cipher) == "住院费用高"
    assert _count(db, HelperAssignment) == 3


def test_wrong_columns_import_nothing_and_name_the_column(
    database_url: str, tmp_path: Path
) -> None:
    db = migrated(database_url)
    header = list(IMPORT_COLUMNS)
    header[2] = "村名"
    path = write_xlsx(tmp_path / "r.xlsx", [row(1)], header=header)
    with pytest.raises(HeaderError) as caught:
        _import(db, path)
    assert "第3列应为“村”，文件中是“村名”" in str(caught.value)
    assert "column 3" in str(caught.value)
    missing_phone = write_xlsx(tmp_path / "m.xlsx", [row(1)[:10]], header=IMPORT_COLUMNS[:10])
    with pytest.raises(HeaderError, match="第11列应为“包抓干部电话”"):
        _import(db, missing_phone)
    assert _count(db, Household) == 0


def test_bad_rows_are_listed_by_row_column_and_reason(database_url: str, tmp_path: Path) -> None:
    db = migrated(database_url)
    rows = [
        row(1),
        row(2, id_text=id_number(2, wrong_check=True)),
        row(3, size=0),
        row(4, year=2031),
        row(5, risk="因懒"),
        row(6, phone="12345"),
        row(7, village="不存在村"),
        row(8),
    ]
    path = write_xlsx(tmp_path / "r.xlsx", rows)
    report = _import(db, path)
    assert report.created == 2
    found = [(p.row, p.column) for p in report.problems]
    # The title and unit lines are rows 1-2, the header row 3: data starts at row 4.
    assert found == [(5, "户主证件号码"), (6, "家庭人口"), (7, "脱贫年度"), (8, "返贫风险类型"),
                     (9, "包抓干部电话"), (10, "村")]  # fmt: skip
    assert report.problems[0].reason.startswith("身份证号最后一位校验码不对")
    assert "check" in report.problems[0].reason
    assert all(id_number(2, wrong_check=True) not in p.reason for p in report.problems)
    sheet = load_workbook(io.BytesIO(rejected_xlsx(report))).active
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][:3] == ("行号 / row", "列 / column", "原因 / reason")
    assert lines[1][0] == 5 and lines[1][7] == id_number(2, wrong_check=True)  # to correct it
    assert len(lines) == 7


def test_duplicates_inside_one_file_and_empty_rows(database_url: str, tmp_path: Path) -> None:
    db = migrated(database_url)
    rows = [row(1), [None] * 11, row(2), ["", " ", None], row(1)]
    report = _import(db, write_xlsx(tmp_path / "r.xlsx", rows, title=False))
    assert (report.created, report.empty) == (2, 2)
    assert [(p.row, p.column) for p in report.problems] == [(6, "户主证件号码")]
    assert "与第2行的户主证件号码重复" in report.problems[0].reason


def test_reimport_updates_and_never_duplicates(database_url: str, tmp_path: Path) -> None:
    db = migrated(database_url)
    first = write_xlsx(tmp_path / "a.xlsx", [row(1), row(2)])
    _import(db, first)
    events = _count(db, AuditEvent)
    again = _import(db, first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert _count(db, AuditEvent) == events  # nothing changed, nothing recorded
    fixed = [row(1, size=5), row(2, helper="王帮扶", phone="13800000002")]
    corrected = write_xlsx(tmp_path / "b.xlsx", fixed)
    report = _import(db, corrected)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert _count(db, Household) == 2
    with db.read() as session:
        household = session.exec(select(Household).where(Household.head_name == "户主2")).one()
        query = select(HelperAssignment).where(HelperAssignment.household_id == household.id)
        history = list(session.exec(query.order_by(col(HelperAssignment.id))))
        assert [a.ended_at is None for a in history] == [False, True]
        change = session.exec(select(AuditEvent).where(AuditEvent.action == "helper.changed")).one()
        assert change.subject_id == household.id and change.actor == "user:1"
        assert cipher().unseal(change.reason) == "花名册导入 / roster import"


def test_a_file_for_another_townships_villages_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    db = migrated(database_url)
    elsewhere = row(1, township="示例镇（演示数据）", village="示例一村")
    path = write_xlsx(tmp_path / "r.xlsx", [elsewhere, row(2)])
    report = _import(db, path)
    assert report.created == 1
    assert [(p.row, p.column) for p in report.problems] == [(4, "村")]
    assert report.problems[0].reason.startswith("该村不在您的管辖范围内")
    # A household already registered elsewhere cannot be moved in by typing its ID.
    boluo = Scope(Role.TOWNSHIP, "boluo", "boluo-sample", None)
    theirs = write_xlsx(
        tmp_path / "b.xlsx", [row(2, township="示例镇（演示数据）", village="示例一村")]
    )
    moved = _import(db, theirs, scope=boluo)
    assert moved.created == 0 and moved.problems[0].reason.startswith(
        "该户已登记在您管辖范围以外的村"
    )


def test_dry_run_writes_nothing_and_finds_the_same_problems(
    database_url: str, tmp_path: Path
) -> None:
    db = migrated(database_url)
    path = write_xlsx(tmp_path / "r.xlsx", [row(1), row(2, size="many")])
    dry = _import(db, path, dry_run=True)
    assert (dry.created, len(dry.problems)) == (1, 1)
    assert _count(db, Household) == 0 and _count(db, Helper) == 0
    real = _import(db, path)
    assert (real.created, [p.row for p in real.problems]) == (1, [p.row for p in dry.problems])


def test_a_gbk_csv_from_chinese_excel(database_url: str, tmp_path: Path) -> None:
    db = migrated(database_url)
    path = write_csv(tmp_path / "r.csv", [row(1), row(2)], encoding="gb18030")
    assert _import(db, path).created == 2


def test_an_interrupted_import_can_be_run_again(database_url: str, tmp_path: Path) -> None:
    """Batches commit one by one: a run that died after some batches is simply re-run."""
    db = migrated(database_url)
    rows = [row(n, phone=f"138{n % 7:08d}", helper=f"帮扶{n % 7}") for n in range(BATCH + 20)]
    _import(db, write_csv(tmp_path / "part.csv", rows[:BATCH]))  # what the dead run committed
    seen: list[int] = []
    report = _import(db, write_csv(tmp_path / "all.csv", rows), progress=seen.append)
    assert (report.created, report.unchanged, report.problems) == (20, BATCH, [])
    assert seen == [BATCH, BATCH + 20]
    assert _count(db, Household) == BATCH + 20 and _count(db, Helper) == 7


@pytest.mark.slow
def test_a_50000_row_file(tmp_path: Path) -> None:
    db = migrated(f"sqlite:///{tmp_path / 'big.db'}")
    rows = (row(n, phone=f"139{n // 5:08d}", helper=f"帮扶{n // 5}") for n in range(50_000))
    path = write_xlsx(tmp_path / "big.xlsx", rows)
    started = time.perf_counter()
    report = _import(db, path)
    elapsed = time.perf_counter() - started
    assert (report.created, report.problems) == (50_000, [])
    assert _count(db, Helper) == 10_000 and _count(db, HelperAssignment) == 50_000
    print(f"50,000 rows in {elapsed:.1f} s")  # reported, never asserted
