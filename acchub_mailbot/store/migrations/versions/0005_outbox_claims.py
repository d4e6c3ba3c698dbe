"""Outgoing mail is claimed before it is sent: who claimed it and until when. Instances say
which mailboxes they wait for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("digests", "confirmations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
            batch_op.add_column(sa.Column("claim_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiting", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("waiting")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("claim_until")
            batch_op.drop_column("claimed_by")
