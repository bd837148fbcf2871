"""retention: an index on finished_at of every table whose finished rows are pruned by age

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

Retention deletes finished executions, tasks, task groups and pattern applications oldest first, by
the time they finished, in small batches; each batch finds its rows on this index instead of scanning
the table. The executions' index also holds the parent, which retention checks (a sub-workflow's
execution stays while its parent runs), so counting finished executions reads the index alone.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("tasks", "task_groups", "pattern_applications")


def upgrade() -> None:
    op.create_index("ix_executions_finished_at_parent", "executions", ["finished_at", "parent"])
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_finished_at"), table, ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_executions_finished_at_parent", table_name="executions")
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_finished_at"), table_name=table)
