"""tasks, their attempts, task groups, projects

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from corral.db.base import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("project", sa.String(128), nullable=True),
        sa.Column("group_id", sa.String(64), nullable=True),
        sa.Column("target", sa.String(256), nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(256), nullable=True),
        sa.Column("tried", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("is_error", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("failure", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    for column in ("state", "project", "group_id", "created_at"):
        op.create_index(op.f(f"ix_tasks_{column}"), "tasks", [column])
    op.create_table(
        "task_attempts",
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "number", name=op.f("pk_task_attempts")),
    )

    op.create_table(
        "task_groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_groups")),
    )
    op.create_index(op.f("ix_task_groups_state"), "task_groups", ["state"])
    op.create_index(op.f("ix_task_groups_created_at"), "task_groups", ["created_at"])
    op.create_table(
        "projects",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projects")),
    )


def downgrade() -> None:
    op.drop_table("projects")
    op.drop_index(op.f("ix_task_groups_created_at"), table_name="task_groups")
    op.drop_index(op.f("ix_task_groups_state"), table_name="task_groups")
    op.drop_table("task_groups")
    op.drop_table("task_attempts")
    for column in ("state", "project", "group_id", "created_at"):
        op.drop_index(op.f(f"ix_tasks_{column}"), table_name="tasks")
    op.drop_table("tasks")
