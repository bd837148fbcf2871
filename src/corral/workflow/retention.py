"""Which executions retention may delete: finished ones, with their step checkpoints and events.

A sub-workflow's execution stays while its parent runs: the parent reads the child's results when it
resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, exists, select
from sqlalchemy.orm import aliased

from corral.db.pruning import Prunable
from corral.workflow.store import ExecutionEventRow, ExecutionRow, StepRunRow


def _parent_finished() -> ColumnElement[bool]:
    parent = aliased(ExecutionRow)
    running_parent = exists(
        select(parent.id).where(parent.id == ExecutionRow.parent, parent.finished_at.is_(None))
    )
    return ExecutionRow.parent.is_(None) | ~running_parent


def _steps_and_events(keys: Sequence[Any]) -> Sequence[Delete]:
    return (
        delete(StepRunRow).where(StepRunRow.execution_id.in_(keys)),
        delete(ExecutionEventRow).where(ExecutionEventRow.execution_id.in_(keys)),
    )


EXECUTIONS = Prunable(
    "executions",
    ExecutionRow.id,
    ExecutionRow.finished_at,
    eligible=_parent_finished,
    dependents=_steps_and_events,
)
