"""attachments: photos, documents and voice notes sent through a chat channel

Revision ID: 0002_attachments
Revises: 0001
Create Date: 2026-11-25 12:00:00

Hand-written for both SQLite and PostgreSQL. One table: the file's channel id and
metadata (the bytes stay with the channel), the contact who sent it, the queue item it
was filed with (linked at submission), and whether a cadre must listen to it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.columns

revision: str = "0002_attachments"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("file_unique_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("mime", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("caption_cipher", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("needs_listening", sa.Boolean(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=True),
        sa.Column("created_at", intake.columns.UTCDateTime(), nullable=False),
        sa.Column("linked_at", intake.columns.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="uq_attachment_channel_ext"),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attachment_contact_item", ["contact_id", "queue_item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachment_queue_item_id"), ["queue_item_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_queue_item_id"))
        batch_op.drop_index("ix_attachment_contact_item")
    op.drop_table("attachment")
