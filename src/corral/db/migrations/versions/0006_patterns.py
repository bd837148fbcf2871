"""pattern applications

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from corral.db.base import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pattern_applications",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("pattern_id", sa.String(128), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("validation", sa.JSON(), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=True),
        sa.Column("workflow_version", sa.Integer(), nullable=True),
        sa.Column("execution_id", sa.String(64), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pattern_applications")),
    )
    op.create_index(op.f("ix_pattern_applications_pattern_id"), "pattern_applications", ["pattern_id"])
    op.create_index(op.f("ix_pattern_applications_status"), "pattern_applications", ["status"])
    op.create_index(op.f("ix_pattern_applications_execution_id"), "pattern_applications", ["execution_id"])
    op.create_index(op.f("ix_pattern_applications_created_at"), "pattern_applications", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pattern_applications_created_at"), table_name="pattern_applications")
    op.drop_index(op.f("ix_pattern_applications_execution_id"), table_name="pattern_applications")
    op.drop_index(op.f("ix_pattern_applications_status"), table_name="pattern_applications")
    op.drop_index(op.f("ix_pattern_applications_pattern_id"), table_name="pattern_applications")
    op.drop_table("pattern_applications")
