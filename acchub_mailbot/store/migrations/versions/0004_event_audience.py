"""Events get an audience: the mailbox's admins, or one accountant (per-accountant digests).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", sa.String(length=340), server_default="", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_events_audience"), ["audience"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_audience"))
        batch_op.drop_column("audience")
