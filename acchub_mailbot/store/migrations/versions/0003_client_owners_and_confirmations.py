"""Client owners (who forwarded each client) and the confirmation-reply outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 12:06:16.215028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_owners_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_owners")),
        sa.UniqueConstraint("client_id", "address", name=op.f("uq_client_owners_client_id")),
    )
    with op.batch_alter_table("client_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_owners_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_client_owners_client_id"), ["client_id"], unique=False)

    op.create_table(
        "confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_row_id"],
            ["messages.id"],
            name=op.f("fk_confirmations_message_row_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmations")),
        sa.UniqueConstraint("message_id", name=op.f("uq_confirmations_message_id")),
        sa.UniqueConstraint("message_row_id", name=op.f("uq_confirmations_message_row_id")),
    )
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_confirmations_mailbox"), ["mailbox"], unique=False)
        batch_op.create_index(batch_op.f("ix_confirmations_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_confirmations_to_address"), ["to_address"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_confirmations_to_address"))
        batch_op.drop_index(batch_op.f("ix_confirmations_status"))
        batch_op.drop_index(batch_op.f("ix_confirmations_mailbox"))
    op.drop_table("confirmations")
    with op.batch_alter_table("client_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_owners_client_id"))
        batch_op.drop_index(batch_op.f("ix_client_owners_address"))
    op.drop_table("client_owners")
