"""Helpers and their month: helper, assignment, link code, visit, roster entry, timer

Revision ID: 0007_helpers
Revises: 0006_sms
Create Date: 2026-11-27 10:00:00

Hand-written for both SQLite and PostgreSQL. A household has at most one current helper:
a partial unique index on ``helper_assignment(household_id) WHERE ended_at IS NULL``,
which both databases support. No column holds a phone number or a link code in clear:
``helper.phone_cipher`` is encrypted, ``phone_hash`` and ``code_hash`` are keyed hashes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0007_helpers"
down_revision: str | None = "0006_sms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_UTC = intake.columns.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "helper",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _STRING(length=64), nullable=False),
        sa.Column("phone_cipher", _STRING(length=512), nullable=True),
        sa.Column("phone_hash", _STRING(length=64), nullable=True),
        sa.Column("work_unit", _STRING(length=128), nullable=True),
        sa.Column("region_code", _STRING(length=64), nullable=False),
        sa.Column("township_code", _STRING(length=64), nullable=False),
        sa.Column("village_code", _STRING(length=64), nullable=True),
        sa.Column("state", _STRING(length=16), nullable=False),
        sa.Column("chat_channel", _STRING(length=32), nullable=True),
        sa.Column("chat_external_id", _STRING(length=128), nullable=True),
        sa.Column("linked_at", _UTC(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone_hash"),
    )
    op.create_index("ix_helper_region_code", "helper", ["region_code"])
    op.create_index("ix_helper_township_code", "helper", ["township_code"])
    op.create_table(
        "helper_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=False),
        sa.Column("started_at", _UTC(), nullable=False),
        sa.Column("ended_at", _UTC(), nullable=True),
        sa.Column("actor", _STRING(length=64), nullable=False),
        sa.ForeignKeyConstraint(["helper_id"], ["helper.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_helper_assignment_helper", "helper_assignment", ["helper_id", "ended_at"])
    op.create_index(
        "uq_helper_assignment_current",
        "helper_assignment",
        ["household_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "helper_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", _STRING(length=64), nullable=False),
        sa.Column("created_by", _STRING(length=64), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("expires_at", _UTC(), nullable=False),
        sa.Column("used_at", _UTC(), nullable=True),
        sa.Column("used_channel", _STRING(length=32), nullable=True),
        sa.ForeignKeyConstraint(["helper_id"], ["helper.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_helper_link_helper_id", "helper_link", ["helper_id"])
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=True),
        sa.Column("period", _STRING(length=7), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("mode", _STRING(length=16), nullable=False),
        sa.Column("not_visited_reason", _STRING(length=32), nullable=True),
        sa.Column("income", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("problems_cipher", _STRING(), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("recorded_by", _STRING(length=64), nullable=False),
        sa.Column("recorded_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["helper_id"], ["helper.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visit_helper_id", "visit", ["helper_id"])
    op.create_index("ix_visit_household_period", "visit", ["household_id", "period"])
    op.create_index("ix_visit_period", "visit", ["period"])
    op.create_table(
        "roster_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("risk_codes", _STRING(length=64), nullable=False),
        sa.Column("reason_cipher", _STRING(), nullable=True),
        sa.Column("updated_by", _STRING(length=64), nullable=False),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("household_id", name="uq_roster_entry_household"),
    )
    op.create_table(
        "timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", _STRING(length=128), nullable=False),
        sa.Column("period", _STRING(length=16), nullable=False),
        sa.Column("kind", _STRING(length=32), nullable=False),
        sa.Column("due_at", _UTC(), nullable=False),
        sa.Column("status", _STRING(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fired_at", _UTC(), nullable=True),
        sa.Column("fired_by", _STRING(length=64), nullable=True),
        sa.Column("note", _STRING(length=500), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "period", "kind", name="uq_timer_key"),
    )
    op.create_index("ix_timer_due", "timer", ["status", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_timer_due", table_name="timer")
    op.drop_table("timer")
    op.drop_table("roster_entry")
    for name in ("ix_visit_period", "ix_visit_household_period", "ix_visit_helper_id"):
        op.drop_index(name, table_name="visit")
    op.drop_table("visit")
    op.drop_index("ix_helper_link_helper_id", table_name="helper_link")
    op.drop_table("helper_link")
    op.drop_index("uq_helper_assignment_current", table_name="helper_assignment")
    op.drop_index("ix_helper_assignment_helper", table_name="helper_assignment")
    op.drop_table("helper_assignment")
    op.drop_index("ix_helper_township_code", table_name="helper")
    op.drop_index("ix_helper_region_code", table_name="helper")
    op.drop_table("helper")
