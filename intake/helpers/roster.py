"""Roster import (花名册): valid rows in, bad rows listed and returned as a spreadsheet.

:func:`import_roster` reads a file (:mod:`intake.helpers.roster_file` checks each row),
then writes the valid rows in batches, each batch one transaction:

- households are matched by the keyed hash of the head's ID number, so importing the same
  or a corrected file again **updates, never duplicates**; a row that changes nothing
  writes nothing (not even an audit event);
- helpers are matched by the keyed hash of their phone, and made when new; a household's
  helper is changed only when the file names another, as an audit event;
- an interrupted import leaves whole batches behind and can simply be run again.

The rows ``--dry-run`` would reject are the ones a real run rejects: a dry run does every
read and write of a real one, and rolls each batch back.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import insert
from sqlmodel import Session, col, select

from intake import audit
from intake.audit import AuditEvent
from intake.crypto import FieldCipher
from intake.db import Database
from intake.exports import text_row
from intake.helpers.assignments import (
    change_helper,
    new_helper,
    phone_hash,
    record_created,
)
from intake.helpers.models import Helper, HelperAssignment, RosterEntry
from intake.helpers.roster_file import (
    IMPORT_COLUMNS,
    Places,
    Problem,
    RosterRow,
    check_row,
    read_rows,
    reason,
)
from intake.households import Household
from intake.policy import Policy
from intake.users import Scope

__all__ = ["BATCH", "ImportReport", "import_roster", "rejected_xlsx"]

BATCH = 500
MONITORED = "monitored"
_ROSTER_REASON = "花名册导入 / roster import"


@dataclass
class ImportReport:
    """What an import did; ``rejected`` keeps each bad row's cells for the download."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    empty: int = 0
    problems: list[Problem] = field(default_factory=list)
    rejected: list[tuple[int, list[str]]] = field(default_factory=list)


class _DryRun(Exception):
    """Raised at the end of a dry-run batch so its transaction rolls back."""


@dataclass
class _Batch:
    places: Places
    rows: list[tuple[RosterRow, list[str]]] = field(default_factory=list)


def import_roster(
    db: Database, cipher: FieldCipher, path: Path, *, scope: Scope, policies: dict[str, Policy],
    actor: str, now: datetime, today: date, dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:  # fmt: skip
    """Import a roster file; HeaderError (nothing imported) if its columns are wrong.

    ``progress(rows_read)`` is called after each batch, for a progress bar.
    """
    report = ImportReport()
    places = Places(policies, scope)
    seen: dict[str, int] = {}  # ID hash -> first row, for duplicates inside the file
    names: dict[str, str] = {}  # helper phone -> the name the file first gave it
    batch = _Batch(places)
    for number, cells in read_rows(path):
        report.rows += 1
        checked = check_row(number, cells, places, today)
        if checked is None:
            report.empty += 1
            continue
        if isinstance(checked, RosterRow):
            checked = _first_time(checked, cipher, seen, names)
        if isinstance(checked, Problem):
            _reject(report, checked, cells)
            continue
        batch.rows.append((checked, cells))
        if len(batch.rows) >= BATCH:
            _write(db, cipher, batch, scope, actor, now, dry_run, report)
            batch = _Batch(places)
            if progress:
                progress(report.rows)
    _write(db, cipher, batch, scope, actor, now, dry_run, report)
    if progress:
        progress(report.rows)
    return report


def _first_time(
    row: RosterRow, cipher: FieldCipher, seen: dict[str, int], names: dict[str, str]
) -> RosterRow | Problem:
    """A row whose household the file named before, or whose helper's phone the file
    gave another name before, is refused (the first row stands)."""
    key = cipher.lookup_hash(row.id_number)
    first = seen.setdefault(key, row.row)
    if first != row.row:
        return Problem(row.row, IMPORT_COLUMNS[4], reason("helpers.roster.duplicate", row=first))
    if row.helper_phone and names.setdefault(row.helper_phone, row.helper_name or "") != (
        row.helper_name or ""
    ):
        return Problem(row.row, IMPORT_COLUMNS[10], reason("helpers.roster.phone_of_other"))
    return row


def _reject(report: ImportReport, problem: Problem, cells: list[str]) -> None:
    report.problems.append(problem)
    report.rejected.append((problem.row, cells))


def _write(
    db: Database, cipher: FieldCipher, batch: _Batch, scope: Scope, actor: str, now: datetime,
    dry_run: bool, report: ImportReport,
) -> None:  # fmt: skip
    if not batch.rows:
        return
    counts = ImportReport()
    try:
        with db.write() as session:
            _apply(session, cipher, batch, scope, actor, now, counts)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    report.created += counts.created
    report.updated += counts.updated
    report.unchanged += counts.unchanged
    for problem, cells in zip(counts.problems, (c for _, c in counts.rejected), strict=True):
        _reject(report, problem, cells)


def _apply(
    session: Session, cipher: FieldCipher, batch: _Batch, scope: Scope, actor: str,
    now: datetime, counts: ImportReport,
) -> None:  # fmt: skip
    hashes = {cipher.lookup_hash(r.id_number): r for r, _ in batch.rows}
    households = {
        h.id_hash: h
        for h in session.exec(select(Household).where(col(Household.id_hash).in_(hashes)))
    }
    helpers = _helpers(session, cipher, [r for r, _ in batch.rows])
    places = batch.places
    written: list[tuple[RosterRow, Household]] = []
    for row, cells in batch.rows:
        key = cipher.lookup_hash(row.id_number)
        household = households.get(key)
        if household is not None and not _movable(household, row, places):
            counts.problems.append(Problem(row.row, IMPORT_COLUMNS[2],
                                           reason("helpers.roster.elsewhere")))  # fmt: skip
            counts.rejected.append((row.row, cells))
            continue
        helper = helpers.get(phone_hash(cipher, row.helper_phone)) if row.helper_phone else None
        if helper is not None and helper.name != row.helper_name:
            counts.problems.append(Problem(row.row, IMPORT_COLUMNS[10],
                                           reason("helpers.roster.phone_of_other")))  # fmt: skip
            counts.rejected.append((row.row, cells))
            continue
        if household is None:
            household = _new_household(session, cipher, row, key, now)
            households[key] = household
            counts.created += 1
        else:
            changed = _update_household(household, row, now)
            counts.updated += bool(changed)
            counts.unchanged += not changed
            if changed:
                _audit(session, household, actor, now, "household.roster_updated", changed)
        written.append((row, household))
    session.flush()
    _entries_and_helpers(session, cipher, written, helpers, actor, now, counts)


def _movable(household: Household, row: RosterRow, places: Places) -> bool:
    """A household registered in a village outside the importer's scope stays there: a
    township cannot take another township's family into its roster by typing its ID."""
    return household.village_code == row.village_code or places.allows_village(
        household.village_code
    )


def _helpers(session: Session, cipher: FieldCipher, rows: list[RosterRow]) -> dict[str, Helper]:
    wanted = {phone_hash(cipher, r.helper_phone) for r in rows if r.helper_phone}
    if not wanted:
        return {}
    found = session.exec(select(Helper).where(col(Helper.phone_hash).in_(wanted)))
    return {h.phone_hash: h for h in found if h.phone_hash}


def _new_household(
    session: Session, cipher: FieldCipher, row: RosterRow, key: str, now: datetime
) -> Household:
    household = Household(
        id_hash=key,
        id_cipher=cipher.encrypt(row.id_number),
        head_name=row.head_name,
        village_code=row.village_code,
        size=row.size,
        category=MONITORED,
        poverty_exit_year=row.exit_year,
        created_at=now,
        updated_at=now,
    )
    session.add(household)
    return household


def _update_household(household: Household, row: RosterRow, now: datetime) -> list[str]:
    wanted = {
        "head_name": row.head_name,
        "village_code": row.village_code,
        "size": row.size,
        "poverty_exit_year": row.exit_year,
        "category": household.category if household.category != "general" else MONITORED,
    }
    changed = [name for name, value in wanted.items() if getattr(household, name) != value]
    for name in changed:
        setattr(household, name, wanted[name])
    if changed:
        household.updated_at = now
    return changed


def _audit(
    session: Session, household: Household, actor: str, now: datetime, action: str,
    changed: list[str],
) -> None:  # fmt: skip
    audit.record(session, actor=actor, action=action, subject_kind="household",
                 subject_id=int(household.id or 0), at=now, data={"changed": changed})  # fmt: skip


def _entries_and_helpers(
    session: Session, cipher: FieldCipher, written: list[tuple[RosterRow, Household]],
    helpers: dict[str, Helper], actor: str, now: datetime, counts: ImportReport,
) -> None:  # fmt: skip
    ids = [int(h.id or 0) for _, h in written]
    entries = {
        e.household_id: e
        for e in session.exec(select(RosterEntry).where(col(RosterEntry.household_id).in_(ids)))
    }
    current = {
        a.household_id: a
        for a in session.exec(
            select(HelperAssignment).where(
                col(HelperAssignment.household_id).in_(ids),
                col(HelperAssignment.ended_at).is_(None),
            )
        )
    }
    _new_helpers(session, cipher, written, helpers, actor, now)
    fresh = _Fresh()
    for row, household in written:
        household_id = int(household.id or 0)
        _entry(session, cipher, entries.get(household_id), household_id, row, actor, now, fresh)
        if row.helper_phone is None:
            continue
        helper_id = int(helpers[phone_hash(cipher, row.helper_phone)].id or 0)
        assignment = current.get(household_id)
        if assignment is None:
            fresh.assign(cipher, household_id, helper_id, actor, now)
        elif assignment.helper_id != helper_id:
            change_helper(
                session, cipher, assignment, household_id=household_id, helper_id=helper_id,
                actor=actor, reason=_ROSTER_REASON, now=now,
            )  # fmt: skip
    fresh.insert(session)


@dataclass
class _Fresh:
    """New rows of a batch, inserted with one statement per table: building ORM objects
    was most of an import's time, and nothing reads these rows back within the batch."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def assign(
        self, cipher: FieldCipher, household_id: int, helper_id: int, actor: str, now: datetime
    ) -> None:
        """A household's first helper (what :func:`change_helper` records, in bulk)."""
        self.assignments.append(
            {"household_id": household_id, "helper_id": helper_id, "started_at": now,
             "ended_at": None, "actor": actor[:64]}
        )  # fmt: skip
        self.events.append({"at": now, "actor": actor, "action": "helper.assigned",
                            "subject_kind": "household", "subject_id": household_id,
                            "reason": cipher.seal(_ROSTER_REASON),
                            "data": {"from": None, "to": helper_id}})  # fmt: skip

    def insert(self, session: Session) -> None:
        for model, rows in ((RosterEntry, self.entries), (HelperAssignment, self.assignments),
                            (AuditEvent, self.events)):  # fmt: skip
            if rows:
                session.execute(insert(model), rows)


def _new_helpers(
    session: Session, cipher: FieldCipher, written: list[tuple[RosterRow, Household]],
    helpers: dict[str, Helper], actor: str, now: datetime,
) -> None:  # fmt: skip
    """Create the batch's new helpers first, with one flush for all their ids."""
    made: list[Helper] = []
    for row, _ in written:
        if row.helper_phone is None or row.helper_name is None:
            continue
        key = phone_hash(cipher, row.helper_phone)
        if key not in helpers:
            helpers[key] = new_helper(cipher, name=row.helper_name, phone=row.helper_phone,
                                      region_code=row.region_code,
                                      township_code=row.township_code, now=now)  # fmt: skip
            made.append(helpers[key])
    session.add_all(made)
    session.flush()
    for helper in made:
        record_created(session, helper, actor=actor, now=now)


def _entry(
    session: Session, cipher: FieldCipher, entry: RosterEntry | None, household_id: int,
    row: RosterRow, actor: str, now: datetime, fresh: _Fresh,
) -> None:  # fmt: skip
    if entry is None:
        fresh.entries.append({"household_id": household_id, "risk_codes": row.risk_codes,
                              "reason_cipher": cipher.seal(row.reason), "updated_by": actor[:64],
                              "updated_at": now, "listed_at": now})  # fmt: skip
        return
    if entry.risk_codes == row.risk_codes and cipher.unseal(entry.reason_cipher) == row.reason:
        return
    entry.risk_codes, entry.reason_cipher = row.risk_codes, cipher.seal(row.reason)
    entry.updated_by, entry.updated_at = actor[:64], now
    session.add(entry)


def rejected_xlsx(report: ImportReport) -> bytes:
    """The rejected rows as cadres typed them, with the row, column and reason first.

    The cells hold what the file held (ID numbers included) for the township to correct
    and import again; the download is the importer's alone, like the file they uploaded.
    """
    book = Workbook()
    sheet = book.active
    sheet.title = "未导入的行"
    sheet.append(["行号 / row", "列 / column", "原因 / reason", *IMPORT_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for problem, (_, cells) in zip(report.problems, report.rejected, strict=True):
        sheet.append(text_row(sheet, [problem.row, problem.column, problem.reason, *cells]))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
