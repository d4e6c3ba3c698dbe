"""Initial schema: mailbox state, processed messages, clients and their history, events, digests.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 11:40:38.055167
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("client_url", sa.String(length=512), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("contact_name", sa.String(length=255), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("access_link", sa.Text(), nullable=True),
        sa.Column("add_client_link", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("access_accepted", sa.Boolean(), nullable=False),
        sa.Column("edited_fields", sa.JSON(), nullable=False),
        sa.Column("source_message_id", sa.String(length=998), nullable=True),
        sa.Column("mailbox", sa.String(length=64), nullable=True),
        sa.Column("verification_outcome", sa.String(length=20), nullable=True),
        sa.Column("verification_reason", sa.Text(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_attempts", sa.Integer(), nullable=False),
        sa.Column("next_verification_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("client_url", name=op.f("uq_clients_client_url")),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clients_status"), ["status"], unique=False)

    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("message_id", name=op.f("uq_digests_message_id")),
    )
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digests_mailbox"), ["mailbox"], unique=False)
        batch_op.create_index(batch_op.f("ix_digests_status"), ["status"], unique=False)

    op.create_table(
        "mailbox_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("errors_since_success", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mailbox_state")),
    )
    op.create_table(
        "client_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_history_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_history")),
    )
    with op.batch_alter_table("client_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_history_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["digests.id"], name=op.f("fk_events_digest_id_digests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_digest_id"), ["digest_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_mailbox"), ["mailbox"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("original_message_id", sa.String(length=998), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("handler", sa.String(length=40), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action_done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_messages_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "mailbox", "folder", "uidvalidity", "uid", name=op.f("uq_messages_mailbox")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_mailbox"), ["mailbox"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_messages_original_message_id"), ["original_message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_messages_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_state"))
        batch_op.drop_index(batch_op.f("ix_messages_original_message_id"))
        batch_op.drop_index(batch_op.f("ix_messages_message_id"))
        batch_op.drop_index(batch_op.f("ix_messages_mailbox"))

    op.drop_table("messages")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_mailbox"))
        batch_op.drop_index(batch_op.f("ix_events_digest_id"))

    op.drop_table("events")
    with op.batch_alter_table("client_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_history_client_id"))

    op.drop_table("client_history")
    op.drop_table("mailbox_state")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digests_status"))
        batch_op.drop_index(batch_op.f("ix_digests_mailbox"))

    op.drop_table("digests")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clients_status"))

    op.drop_table("clients")
