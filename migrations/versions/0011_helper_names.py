"""helpers as people for every enrolment, and the 1-year review's table

Revision ID: 0011_helper_names
Revises: 0010_user_links
Create Date: 2026-12-12 09:00:00

Hand-written for both SQLite and PostgreSQL (issue 7).

- ``help_review``: the queue item of a household's 1-year review or of its exit after the
  follow-up year, with the outcome each level gave; one per household, kind and year
  (the daily job that opens them may run in two processes).
- Data: every enrolment's free-text ``helper_name`` becomes a ``helper`` row and the
  household's current ``helper_assignment``, so nobody's helper is lost. The same name
  (trimmed) in the same township is one helper (an existing helper of that name there,
  e.g. from a roster import, is used); a helper whose enrolments are all in one village
  is placed in that village, otherwise in the township. A household that already has a
  current helper keeps it; one with several enrolments takes its latest one's. Each
  helper made and each assignment is an audit event by ``migration:0009``. Enrolments
  keep their ``helper_name`` as written. Downgrade drops the table only: helpers made
  from names are real records by then.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0011_helper_names"
down_revision: str | None = "0010_user_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_UTC = intake.columns.UTCDateTime
ACTOR = "migration:0009"

_enrollment = sa.table(
    "enrollment",
    sa.column("id", sa.Integer),
    sa.column("queue_item_id", sa.Integer),
    sa.column("household_id", sa.Integer),
    sa.column("helper_name", sa.String),
    sa.column("enrolled_at", _UTC()),
)
_item = sa.table(
    "queue_item",
    sa.column("id", sa.Integer),
    sa.column("region_code", sa.String),
    sa.column("township_code", sa.String),
    sa.column("village_code", sa.String),
)
_helper = sa.table(
    "helper",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("region_code", sa.String),
    sa.column("township_code", sa.String),
    sa.column("village_code", sa.String),
    sa.column("state", sa.String),
    sa.column("created_at", _UTC()),
    sa.column("updated_at", _UTC()),
)
_assignment = sa.table(
    "helper_assignment",
    sa.column("id", sa.Integer),
    sa.column("household_id", sa.Integer),
    sa.column("helper_id", sa.Integer),
    sa.column("started_at", _UTC()),
    sa.column("ended_at", _UTC()),
    sa.column("actor", sa.String),
)
_audit = sa.table(
    "audit_event",
    sa.column("at", _UTC()),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("subject_kind", sa.String),
    sa.column("subject_id", sa.Integer),
    sa.column("reason", sa.String),
    sa.column("data", sa.JSON),
)


def upgrade() -> None:
    op.create_table(
        "help_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STRING(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("opened_at", _UTC(), nullable=False),
        sa.Column("proposed", _STRING(length=32), nullable=True),
        sa.Column("checked", _STRING(length=32), nullable=True),
        sa.Column("outcome", _STRING(length=32), nullable=True),
        sa.Column("decided_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_item.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id"),
        sa.UniqueConstraint("household_id", "kind", "period_start", name="uq_help_review_period"),
    )
    op.create_index("ix_help_review_household_id", "help_review", ["household_id"])
    _helpers_from_names(op.get_bind(), datetime.now(UTC))


def downgrade() -> None:
    op.drop_index("ix_help_review_household_id", table_name="help_review")
    op.drop_table("help_review")


def _event(conn: sa.Connection, now: datetime, action: str, kind: str, subject: int,
           data: dict[str, Any]) -> None:  # fmt: skip
    conn.execute(
        sa.insert(_audit).values(at=now, actor=ACTOR, action=action, subject_kind=kind,
                                 subject_id=subject, reason=None, data=data)
    )  # fmt: skip


def _helpers_from_names(conn: sa.Connection, now: datetime) -> None:
    rows = conn.execute(
        sa.select(
            _enrollment.c.household_id, _enrollment.c.helper_name, _enrollment.c.enrolled_at,
            _enrollment.c.id, _item.c.region_code, _item.c.township_code, _item.c.village_code,
        )
        .select_from(_enrollment.join(_item, _item.c.id == _enrollment.c.queue_item_id))
        .order_by(_enrollment.c.enrolled_at, _enrollment.c.id)
    ).all()  # fmt: skip
    named = [r for r in rows if (r.helper_name or "").strip()]
    villages: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for r in named:
        villages[(r.township_code, r.helper_name.strip()[:64])].add(r.village_code)
    ids = _helper_ids(conn, named, villages, now)
    latest: dict[int, tuple[int, datetime]] = {}
    for r in named:  # in enrolment order: the latest enrolment wins
        if r.household_id is not None:
            key = (r.township_code, r.helper_name.strip()[:64])
            latest[r.household_id] = (ids[key], r.enrolled_at)
    current = set(
        conn.execute(
            sa.select(_assignment.c.household_id).where(_assignment.c.ended_at.is_(None))
        ).scalars()
    )
    for household_id, (helper_id, started) in sorted(latest.items()):
        if household_id in current:
            continue
        conn.execute(sa.insert(_assignment).values(household_id=household_id,
                     helper_id=helper_id, started_at=started, ended_at=None, actor=ACTOR))  # fmt: skip
        _event(conn, now, "helper.assigned", "household", household_id,
               {"from": None, "to": helper_id, "migration": "0011_helper_names"})  # fmt: skip


def _helper_ids(
    conn: sa.Connection, named: list[Any], villages: dict[tuple[str, str], set[str | None]],
    now: datetime,
) -> dict[tuple[str, str], int]:  # fmt: skip
    """(township, name) → helper id: the township's existing helper of that name, or new."""
    ids: dict[tuple[str, str], int] = {}
    for r in named:
        key = (r.township_code, r.helper_name.strip()[:64])
        if key in ids:
            continue
        found = conn.execute(
            sa.select(_helper.c.id)
            .where(_helper.c.township_code == key[0], _helper.c.name == key[1])
            .order_by(_helper.c.id)
        ).first()
        if found is not None:
            ids[key] = int(found[0])
            continue
        places = villages[key]
        village = next(iter(places)) if len(places) == 1 else None
        result = conn.execute(
            sa.insert(_helper).values(name=key[1], region_code=r.region_code,
                                      township_code=key[0], village_code=village, state="active",
                                      created_at=now, updated_at=now)
            .returning(_helper.c.id)
        )  # fmt: skip
        ids[key] = int(result.scalar_one())
        _event(conn, now, "helper.created", "helper", ids[key],
               {"township": key[0], "village": village, "migration": "0011_helper_names"})  # fmt: skip
    return ids
