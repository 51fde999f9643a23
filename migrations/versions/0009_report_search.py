"""report search and letters: the name index of applications, files filed with reports

Revision ID: 0009_report_search
Revises: 0008_reports
Create Date: 2026-12-02 08:00:00

Hand-written for both SQLite and PostgreSQL (issue 8). The search box of the queue and of
the hotline console finds applications by the head's name with an exact match, which
``ix_application_head_name`` serves (reports are found by keyed hashes that 0008 indexed
already). The reports queue walks ``ix_report_{region,township,village}_due`` in deadline order
instead of sorting every report of the scope, and counts states from ``ix_report_counts``
without reading the table. ``report_attachment`` links a file to a report (a mailbox letter's photo);
``report_file`` keeps the encrypted bytes of a file uploaded on the cadre pages, which no
channel keeps for us.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009_report_search"
down_revision: str | None = "0008_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: The reports queue's deadline order within each scope (see intake.web.reports.listing).
DUE_INDEXES = {
    "ix_report_region_due": ["region_code", "answer_due", "id"],
    "ix_report_township_due": ["township_code", "answer_due", "id"],
    "ix_report_village_due": ["village_code", "answer_due", "id"],
    # The per-state counts of any scope, read from the index alone.
    "ix_report_counts": ["state", "region_code", "township_code", "village_code", "routed_level"],
}


def upgrade() -> None:
    op.create_index("ix_application_head_name", "application", ["head_name"])
    for name, columns in DUE_INDEXES.items():
        op.create_index(name, "report", columns)
    op.create_table(
        "report_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attachment_id"),
    )
    op.create_index("ix_report_attachment_report_id", "report_attachment", ["report_id"])
    op.create_table(
        "report_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("content_cipher", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attachment_id"),
    )


def downgrade() -> None:
    op.drop_table("report_file")
    op.drop_index("ix_report_attachment_report_id", table_name="report_attachment")
    op.drop_table("report_attachment")
    for name in DUE_INDEXES:
        op.drop_index(name, table_name="report")
    op.drop_index("ix_application_head_name", table_name="application")
