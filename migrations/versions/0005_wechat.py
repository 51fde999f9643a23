"""the WeChat Official Account's shared access token

Revision ID: 0005
Revises: 0003_cadre (to become 0004 once that migration is merged)
Create Date: 2026-11-26 10:00:00

One row per app: the token every worker uses, its expiry, and the lease of the worker
fetching the next one (``bot.channels.wechat.tokens``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_access_token",
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("expires_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("fetched_at", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", intake.columns.UTCDateTime(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_id"),
    )


def downgrade() -> None:
    op.drop_table("wechat_access_token")
