"""reports from the public: the report table and the expiring rate counters

Revision ID: 0008_reports
Revises: 0007_helpers
Create Date: 2026-12-10 09:00:00

Hand-written for both SQLite and PostgreSQL (issue 8). ``report`` holds tips, reports,
complaints, questions and suggestions; what a reporter wrote and who they are is
encrypted, and an anonymous report has no contact. Its dates are days, not times.
``report_rate`` counts anonymous filings and status lookups per chat under keyed hashes
that are deleted when their window ends (``intake.reports.limits`` says why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0008_reports"
down_revision: str | None = "0007_helpers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_code", _text(16), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("source", _text(16), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("region_code", _text(64), nullable=False),
        sa.Column("township_code", _text(64), nullable=False),
        sa.Column("village_code", _text(64), nullable=True),
        sa.Column("subject_kind", _text(16), nullable=False),
        sa.Column("subject_name_cipher", _text(), nullable=True),
        sa.Column("subject_name_hash", _text(64), nullable=True),
        sa.Column("text_cipher", _text(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name_cipher", _text(), nullable=True),
        sa.Column("phone_cipher", _text(), nullable=True),
        sa.Column("phone_hash", _text(64), nullable=True),
        sa.Column("reporter_id_cipher", _text(), nullable=True),
        sa.Column("reporter_id_hash", _text(64), nullable=True),
        sa.Column("callback_consent", sa.Boolean(), nullable=False),
        sa.Column("routed_level", _text(16), nullable=False),
        sa.Column("route_reason", _text(32), nullable=False),
        sa.Column("village_told", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("answer_cipher", _text(), nullable=True),
        sa.Column("referred_to", _text(128), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("objected", sa.Boolean(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("clock_from", sa.Date(), nullable=False),
        sa.Column("first_response_due", sa.Date(), nullable=False),
        sa.Column("answer_due", sa.Date(), nullable=False),
        sa.Column("due_estimated", sa.Boolean(), nullable=False),
        sa.Column("first_response_on", sa.Date(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["assignee_id"], ["cadre_user.id"]),
        sa.ForeignKeyConstraint(["merged_into_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracking_code"),
    )
    op.create_index("ix_report_state", "report", ["state"])
    op.create_index("ix_report_subject_name_hash", "report", ["subject_name_hash"])
    op.create_index("ix_report_phone_hash", "report", ["phone_hash"])
    op.create_index("ix_report_reporter_id_hash", "report", ["reporter_id_hash"])
    op.create_index("ix_report_merged_into_id", "report", ["merged_into_id"])
    op.create_index(
        "ix_report_scope", "report", ["region_code", "township_code", "routed_level", "state"]
    )
    op.create_index("ix_report_village_level", "report", ["village_code", "routed_level", "state"])
    op.create_table(
        "report_rate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", _text(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", intake.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_report_rate_key"),
    )
    op.create_index("ix_report_rate_expires_at", "report_rate", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_report_rate_expires_at", table_name="report_rate")
    op.drop_table("report_rate")
    for name in (
        "ix_report_village_level",
        "ix_report_scope",
        "ix_report_merged_into_id",
        "ix_report_reporter_id_hash",
        "ix_report_phone_hash",
        "ix_report_subject_name_hash",
        "ix_report_state",
    ):
        op.drop_index(name, table_name="report")
    op.drop_table("report")
