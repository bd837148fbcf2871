"""workflows, executions, step runs, execution events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from corral.db.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("pattern", sa.String(128), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "version", name=op.f("pk_workflows")),
    )
    op.create_index(op.f("ix_workflows_pattern"), "workflows", ["pattern"])
    op.create_table(
        "executions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("target_machines", sa.JSON(), nullable=False),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
    )
    op.create_index(op.f("ix_executions_workflow_id"), "executions", ["workflow_id"])
    op.create_index(op.f("ix_executions_status"), "executions", ["status"])
    op.create_index(op.f("ix_executions_created_at"), "executions", ["created_at"])
    op.create_table(
        "step_runs",
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("item", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("server", sa.String(63), nullable=True),
        sa.Column("schema_hash", sa.String(64), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_step_runs_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", "key", name=op.f("pk_step_runs")),
    )
    op.create_table(
        "execution_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("step", sa.String(160), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_events_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_events")),
    )
    op.create_index(
        "ix_execution_events_execution_seq", "execution_events", ["execution_id", "seq"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_execution_events_execution_seq", table_name="execution_events")
    op.drop_table("execution_events")
    op.drop_table("step_runs")
    op.drop_index(op.f("ix_executions_created_at"), table_name="executions")
    op.drop_index(op.f("ix_executions_status"), table_name="executions")
    op.drop_index(op.f("ix_executions_workflow_id"), table_name="executions")
    op.drop_table("executions")
    op.drop_index(op.f("ix_workflows_pattern"), table_name="workflows")
    op.drop_table("workflows")
