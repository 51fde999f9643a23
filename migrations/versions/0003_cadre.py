"""cadre accounts, enrolments, queue filter columns and indexes

Revision ID: 0003_cadre
Revises: 0002_attachments
Create Date: 2026-11-25 11:30:00

Hand-written for both SQLite and PostgreSQL: the cadre pages' users and login throttle,
the county's enrolment record (risk types, helper, measures), two queue columns (risk-type
codes for the filter, the merge link) and the indexes the queue page uses.
Existing applications get their suggested risk types copied into the new column.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0003_cadre"
down_revision: str | None = "0002_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Same text as ``intake.queue.SORT_RANK_SQL`` (a migration keeps its own copy).
SORT_RANK = (
    "(CASE WHEN fast_track THEN 0 ELSE 2 END) + (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END)"
)


def upgrade() -> None:
    op.create_table(
        "cadre_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("township_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("village_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("disabled_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("chat_channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("chat_external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("last_digest_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("created_at", intake.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", intake.columns.UTCDateTime(), nullable=False),
        sa.Column("locked_until", intake.columns.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_login_throttle_key"),
    )
    op.create_table(
        "enrollment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("risk_codes", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("reason_detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("helper_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("measures", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("measures_due", sa.Date(), nullable=True),
        sa.Column("enrolled_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("enrolled_at", intake.columns.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_item.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id"),
    )
    op.create_index("ix_enrollment_household_id", "enrollment", ["household_id"], unique=False)

    # Plain ADD COLUMN: no table rebuild on SQLite, which accepts a REFERENCES clause in
    # ADD COLUMN when the column defaults to NULL (Alembic would want batch mode for it).
    op.add_column(
        "queue_item",
        sa.Column("risk_codes", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE queue_item ADD COLUMN merged_into_id INTEGER "
            "CONSTRAINT fk_queue_item_merged_into REFERENCES queue_item (id)"
        )
    else:
        op.add_column("queue_item", sa.Column("merged_into_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_queue_item_merged_into", "queue_item", "queue_item", ["merged_into_id"], ["id"]
        )
    # The queue's order as a generated column (VIRTUAL on SQLite, which cannot add a STORED
    # one; PostgreSQL has only STORED), so the scoped, sorted pages walk an index.
    kind = "VIRTUAL" if op.get_bind().dialect.name == "sqlite" else "STORED"
    op.execute(
        f"ALTER TABLE queue_item ADD COLUMN sort_rank INTEGER GENERATED ALWAYS AS ({SORT_RANK}) {kind}"
    )
    for scope in ("village", "township", "region"):
        op.create_index(
            f"ix_queue_{scope}_order", "queue_item", [f"{scope}_code", "sort_rank", "due_at", "id"]
        )
    for scope in ("village", "township", "region"):
        op.create_index(f"ix_queue_{scope}_status", "queue_item", [f"{scope}_code", "status"])
    _backfill_risk_codes()


def downgrade() -> None:
    for name in (
        "region_status",
        "township_status",
        "village_status",
        "region_order",
        "township_order",
    ):
        op.drop_index(f"ix_queue_{name}", table_name="queue_item")
    op.drop_index("ix_queue_village_order", table_name="queue_item")
    with op.batch_alter_table("queue_item", schema=None) as batch_op:
        batch_op.drop_column("sort_rank")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("risk_codes")
    op.drop_index("ix_enrollment_household_id", table_name="enrollment")
    op.drop_table("enrollment")
    op.drop_table("login_throttle")
    op.drop_table("cadre_user")


def _backfill_risk_codes() -> None:
    """Copy each submitted application's suggested risk types to its queue item."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT queue_item_id, assessment FROM application WHERE queue_item_id IS NOT NULL")
    )
    for item_id, assessment in rows.fetchall():
        data = json.loads(assessment) if isinstance(assessment, str) else assessment or {}
        codes = sorted({str(rt.get("code")) for rt in data.get("risk_types", []) if rt.get("code")})
        if codes:
            bind.execute(
                sa.text("UPDATE queue_item SET risk_codes = :codes WHERE id = :id"),
                {"codes": "," + ",".join(codes) + ",", "id": item_id},
            )
