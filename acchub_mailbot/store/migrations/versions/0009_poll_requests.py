""" "Poll now" from the dashboard: one waiting request per mailbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_requests",
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_poll_requests")),
    )


def downgrade() -> None:
    op.drop_table("poll_requests")
