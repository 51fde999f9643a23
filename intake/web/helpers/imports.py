"""Roster imports started from the upload page, run in a background thread.

Each upload is an :class:`ImportJob` in a :class:`ImportRegistry` held by the web app,
keyed by a random id and owned by the user who uploaded: the page polls the job by its
id (a reload finds it again), and nobody else can see it. The job counts the file's
rows first (so the bar has a total), then runs :func:`intake.helpers.roster.import_roster`,
whose progress callback moves the bar after every batch.

The uploaded file is kept in a private temporary file: a dry run keeps it so that "import
these rows" needs no second upload; a real run, an expired job, or a failed one removes
it. A job lives :data:`JOB_LIFETIME` (one process's memory: with several workers the
reverse proxy must keep a user on one worker, or the page says the job is gone; an
interrupted import is simply run again, since importing is idempotent).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from intake import audit
from intake.crypto import FieldCipher
from intake.db import Database
from intake.helpers.roster import ImportReport, import_roster, rejected_xlsx
from intake.helpers.roster_file import HeaderError, read_rows
from intake.policy import Policy
from intake.users import Scope

__all__ = ["JOB_LIFETIME", "ImportJob", "ImportRegistry", "JobState"]

logger = logging.getLogger(__name__)
JOB_LIFETIME = timedelta(hours=6)
MAX_JOBS = 200


class JobState(StrEnum):
    """Where an import stands."""

    COUNTING = "counting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ImportJob:
    """One upload's import (or dry run), as the page shows it."""

    id: str
    owner: int
    file_name: str
    suffix: str
    dry_run: bool
    created: datetime
    path: Path | None
    state: JobState = JobState.COUNTING
    total: int = 0
    done: int = 0
    report: ImportReport | None = None
    #: A message id of ``helpers.po`` when the import could not run at all.
    error: str | None = None
    error_detail: str = ""
    #: The real import started from this dry run, if any.
    followed_by: str | None = None
    _rejected: bytes | None = field(default=None, repr=False)

    @property
    def percent(self) -> int:
        """How far the import is, 0..100."""
        if self.state is JobState.DONE:
            return 100
        return min(99, round(100 * self.done / self.total)) if self.total else 0

    @property
    def finished(self) -> bool:
        """Whether the page may stop polling."""
        return self.state in (JobState.DONE, JobState.FAILED)

    def rejected_file(self) -> bytes:
        """The rejected rows as XLSX (made once, when first asked for)."""
        if self._rejected is None:
            self._rejected = rejected_xlsx(self.report or ImportReport())
        return self._rejected


@dataclass
class ImportRegistry:
    """The running and recent imports of this process."""

    db: Database
    cipher: FieldCipher
    policies: dict[str, Policy]
    clock: Callable[[], datetime]
    jobs: dict[str, ImportJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, job_id: str, owner: int) -> ImportJob | None:
        """The owner's job of this id (None if unknown, another user's, or expired)."""
        self._expire()
        with self.lock:
            job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def start(
        self, *, owner: int, file_name: str, content: bytes, dry_run: bool, scope: Scope,
        actor: str, today: date,
    ) -> ImportJob:  # fmt: skip
        """Keep the upload in a private file and start importing it in the background."""
        suffix = ".csv" if file_name.lower().endswith(".csv") else ".xlsx"
        handle, name = tempfile.mkstemp(prefix="roster-", suffix=suffix)  # mode 0600
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        return self._launch(owner, file_name, suffix, Path(name), dry_run, scope, actor, today)

    def follow(self, dry: ImportJob, *, scope: Scope, actor: str, today: date) -> ImportJob:
        """The real import of a finished dry run's file (started once; later asks get it)."""
        with self.lock:
            if dry.followed_by and dry.followed_by in self.jobs:
                return self.jobs[dry.followed_by]
            path, dry.path = dry.path, None
        if path is None or not path.exists():
            raise FileNotFoundError("the dry run's file is gone")
        job = self._launch(dry.owner, dry.file_name, dry.suffix, path, False, scope, actor, today)
        dry.followed_by = job.id
        return job

    def _launch(
        self, owner: int, file_name: str, suffix: str, path: Path, dry_run: bool, scope: Scope,
        actor: str, today: date,
    ) -> ImportJob:  # fmt: skip
        self._expire()
        job = ImportJob(secrets.token_urlsafe(12), owner, file_name[:120], suffix, dry_run,
                        self.clock(), path)  # fmt: skip
        with self.lock:
            self.jobs[job.id] = job
        thread = threading.Thread(
            target=self._run, args=(job, scope, actor, today), name=f"roster-{job.id}", daemon=True
        )
        thread.start()
        return job

    def _run(self, job: ImportJob, scope: Scope, actor: str, today: date) -> None:
        assert job.path is not None
        path = job.path
        try:
            job.total = sum(1 for _ in read_rows(path))
            job.state = JobState.RUNNING

            def progress(rows: int) -> None:
                job.done = rows

            job.report = import_roster(
                self.db, self.cipher, path, scope=scope, policies=self.policies, actor=actor,
                now=self.clock(), today=today, dry_run=job.dry_run, progress=progress,
            )  # fmt: skip
            if not job.dry_run:
                self._record(job, actor)
            job.state = JobState.DONE
        except HeaderError as error:
            job.error, job.error_detail = "helpers.upload.bad_columns", str(error)
            job.state = JobState.FAILED
        except Exception as error:  # an unreadable file, or the database went away
            logger.warning("roster import %s failed: %s", job.id, type(error).__name__)
            job.error = "helpers.upload.failed"
            job.state = JobState.FAILED
        finally:
            if not (job.dry_run and job.state is JobState.DONE):
                job.path = None
                path.unlink(missing_ok=True)

    def _record(self, job: ImportJob, actor: str) -> None:
        """The import, with its counts (never a row's content), in the audit log."""
        report = job.report or ImportReport()
        with self.db.write() as session:
            audit.record(session, actor=actor, action="roster.imported", subject_kind="user",
                         subject_id=job.owner, at=self.clock(),
                         data={"rows": report.rows, "created": report.created,
                               "updated": report.updated, "unchanged": report.unchanged,
                               "rejected": len(report.problems)})  # fmt: skip

    def _expire(self) -> None:
        cutoff = self.clock() - JOB_LIFETIME
        with self.lock:
            finished = sorted(
                (j for j in self.jobs.values() if j.finished), key=lambda j: j.created
            )
            old = [j for j in finished if j.created < cutoff]
            excess = max(0, len(self.jobs) - len(old) - MAX_JOBS)
            old += [j for j in finished if j.created >= cutoff][:excess]
            for job in old:
                self.jobs.pop(job.id, None)
                if job.path is not None:
                    job.path.unlink(missing_ok=True)
