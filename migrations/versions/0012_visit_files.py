"""files a helper sent while logging a visit belong to that visit; when a roster listed a household

Revision ID: 0012_visit_files
Revises: 0011_helper_names
Create Date: 2026-12-02 12:00:00

Hand-written for both SQLite and PostgreSQL (issue 7). ``visit_attachment`` links a photo
or a voice note (an ``attachment`` row, which its channel keeps) to the visit during
whose logging the helper sent it; a file belongs to one visit at most.
``roster_entry.listed_at`` is when a roster first listed the household (the 1-year review
of a household known only from the roster counts from it); rows already there take their
last update, the earliest day known.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.columns

revision: str = "0012_visit_files"
down_revision: str | None = "0011_helper_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"]),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attachment_id"),
    )
    op.create_index("ix_visit_attachment_visit_id", "visit_attachment", ["visit_id"])
    with op.batch_alter_table("roster_entry") as batch:
        batch.add_column(sa.Column("listed_at", intake.columns.UTCDateTime(), nullable=True))
    op.execute("UPDATE roster_entry SET listed_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("roster_entry") as batch:
        batch.drop_column("listed_at")
    op.drop_index("ix_visit_attachment_visit_id", table_name="visit_attachment")
    op.drop_table("visit_attachment")
