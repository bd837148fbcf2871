"""executions: indexes that serve each list's filter and its newest-first order

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

A list of executions is filtered by status or workflow and sorted by (created_at, id) newest first.
With one index per column the store found the matching rows by the filter and then sorted all of
them for every page; an index on (filter, created_at, id) hands them out already in order.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SINGLE = ("status", "workflow_id", "created_at")
ORDERED = {
    "ix_executions_status_created_at": ["status", "created_at", "id"],
    "ix_executions_workflow_id_created_at": ["workflow_id", "created_at", "id"],
    "ix_executions_created_at_id": ["created_at", "id"],
}


def upgrade() -> None:
    for column in SINGLE:
        op.drop_index(op.f(f"ix_executions_{column}"), table_name="executions")
    for name, columns in ORDERED.items():
        op.create_index(name, "executions", columns)


def downgrade() -> None:
    for name in ORDERED:
        op.drop_index(name, table_name="executions")
    for column in SINGLE:
        op.create_index(op.f(f"ix_executions_{column}"), "executions", [column])
