"""one-time codes that link a cadre's chat for the daily digest

Revision ID: 0010_user_links
Revises: 0009_report_search
Create Date: 2026-12-02 09:00:00

Hand-written for both SQLite and PostgreSQL (issue 7). ``user_link`` is ``helper_link``'s
twin for cadre accounts: only a keyed hash of the code is kept, it works once and expires,
and redeeming it in the chat is what sets ``cadre_user.chat_*`` (no unverified path).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0010_user_links"
down_revision: str | None = "0009_report_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "user_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", _text(64), nullable=False),
        sa.Column("created_by", _text(64), nullable=False),
        sa.Column("created_at", intake.columns.UTCDateTime(), nullable=False),
        sa.Column("expires_at", intake.columns.UTCDateTime(), nullable=False),
        sa.Column("used_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("used_channel", _text(32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["cadre_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_user_link_user_id", "user_link", ["user_id"], unique=False)
    # Every message asks whether its chat is a helper's (the 记录走访 entry): by index.
    op.create_index("ix_helper_chat", "helper", ["chat_channel", "chat_external_id"])


def downgrade() -> None:
    op.drop_index("ix_helper_chat", table_name="helper")
    op.drop_index("ix_user_link_user_id", table_name="user_link")
    op.drop_table("user_link")
