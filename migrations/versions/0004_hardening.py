"""personal free text encrypted at rest; a filing keeps its own phone

Revision ID: 0004
Revises: 0003_cadre
Create Date: 2026-12-02 09:00:00

Hand-written for both SQLite and PostgreSQL (issue 9, hardening):

* ``application.phone_cipher``: the phone a filing gave. A filing for a household already
  registered no longer overwrites the household's phone and name; a cadre of its village
  accepts them or not.
* the call-back note, an attachment's file name and an enrolment's detailed reason and
  measures are now stored encrypted: their columns are renamed ``*_cipher`` and lose
  their length limit (a token is about 1.4 times the UTF-8 text, plus 40 characters).
* ``ix_outbox_recipient (channel, recipient, id)``: the outbox keeps one chat's sends in
  order across workers by looking at the chat's earlier rows.
* ``audit_event.reason`` holds an encrypted reason: unlimited length on PostgreSQL. On
  SQLite, which does not enforce lengths, the table is left as it is, since rebuilding it
  would drop the triggers that keep the log append-only.

Rows written before keep their plain text and are read as such (``FieldCipher.unseal``):
the migration has no key to encrypt them, and the audit log is never rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003_cadre"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> (old column, new column, old length)
RENAMED = {
    "callback_request": (("note", "note_cipher", 1000),),
    "attachment": (("file_name", "file_name_cipher", 255),),
    "enrollment": (
        ("reason_detail", "reason_detail_cipher", 500),
        ("measures", "measures_cipher", 2000),
    ),
}


def upgrade() -> None:
    op.add_column(
        "application",
        sa.Column("phone_cipher", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    )
    # Plain ``sa.String``: Alembic's batch rename trips over a TypeDecorator (AutoString).
    for table, columns in RENAMED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new, length in columns:
                batch_op.alter_column(
                    old,
                    new_column_name=new,
                    existing_type=sa.String(length=length),
                    type_=sa.String(),
                    existing_nullable=True,
                )
    op.create_index(
        "ix_outbox_recipient", "outbox_message", ["channel", "recipient", "id"], unique=False
    )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "audit_event",
            "reason",
            existing_type=sa.String(length=2000),
            type_=sa.String(),
            existing_nullable=True,
        )


def downgrade() -> None:
    """Back to plain-text column names; values written encrypted stay tokens (no key here),
    and a token longer than the old limit makes PostgreSQL refuse the narrowing."""
    op.drop_index("ix_outbox_recipient", table_name="outbox_message")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "audit_event",
            "reason",
            existing_type=sa.String(),
            type_=sa.String(length=2000),
            existing_nullable=True,
        )
    for table, columns in RENAMED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new, length in columns:
                batch_op.alter_column(
                    new,
                    new_column_name=old,
                    existing_type=sa.String(),
                    type_=sa.String(length=length),
                    existing_nullable=True,
                )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_column("phone_cipher")
