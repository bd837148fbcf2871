"""retention: an index on finished_at of every table whose finished rows are pruned by age

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

Retention deletes finished executions, tasks, task groups and pattern applications oldest first, by
the time they finished, in small batches; each batch finds its rows on this index instead of scanning
the table.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("executions", "tasks", "task_groups", "pattern_applications")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_finished_at"), table, ["finished_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_finished_at"), table_name=table)
