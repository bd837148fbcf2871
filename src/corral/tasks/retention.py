"""Which task records retention may delete: finished tasks with their attempts, and finished task groups
with their tasks. A task of a group goes with its group, never alone, so a group's results stay whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, select

from corral.db.pruning import Prunable
from corral.tasks.store import TaskAttemptRow, TaskGroupRow, TaskRow


def _standalone() -> ColumnElement[bool]:
    return TaskRow.group_id.is_(None)


def _attempts(keys: Sequence[Any]) -> Sequence[Delete]:
    return (delete(TaskAttemptRow).where(TaskAttemptRow.task_id.in_(keys)),)


def _members(keys: Sequence[Any]) -> Sequence[Delete]:
    members = select(TaskRow.id).where(TaskRow.group_id.in_(keys))
    return (
        delete(TaskAttemptRow).where(TaskAttemptRow.task_id.in_(members)),
        delete(TaskRow).where(TaskRow.group_id.in_(keys)),
    )


TASKS = Prunable("tasks", TaskRow.id, TaskRow.finished_at, eligible=_standalone, dependents=_attempts)
TASK_GROUPS = Prunable("task_groups", TaskGroupRow.id, TaskGroupRow.finished_at, dependents=_members)
