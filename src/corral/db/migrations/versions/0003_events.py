"""event log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from corral.db.base import UTCDateTime

revision = "0003"
# After 0006: the workflow (0005) and pattern (0006) tables landed first, 0005 revising 0002, and 0004
# revises this one; so one chain, and a single head: 0002 → 0005 → 0006 → 0003 → 0004.
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_time"), "events", ["time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_events_time"), table_name="events")
    op.drop_table("events")
