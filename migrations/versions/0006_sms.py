"""SMS channel: daily count per phone, opt-outs, delivery receipts

Revision ID: 0006_sms
Revises: 0003_cadre
Create Date: 2026-11-26 10:00:00

Hand-written for both SQLite and PostgreSQL. No column holds a phone number: each table
keys on the phone's keyed hash (notifications.sms.models says why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0006_sms"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_daily_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone_hash", "day", name="uq_sms_daily_count"),
    )
    op.create_table(
        "sms_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("replied_at", intake.columns.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", intake.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone_hash"),
    )
    op.create_table(
        "sms_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biz_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("accepted_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("err_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("err_msg", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("reported_at", intake.columns.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("biz_id"),
    )
    op.create_index("ix_sms_receipt_phone_hash", "sms_receipt", ["phone_hash"])


def downgrade() -> None:
    op.drop_index("ix_sms_receipt_phone_hash", table_name="sms_receipt")
    op.drop_table("sms_receipt")
    op.drop_table("sms_opt_out")
    op.drop_table("sms_daily_count")
