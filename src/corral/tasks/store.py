"""The ``tasks`` and ``task_attempts`` tables: every task from request to outcome, every attempt of it.

The store is the record: a task is written before it is dispatched, and a state change names the
attempt it is about, so an answer from an attempt that is no longer current (a late result after a
failover or a cancel, a call that outlived a restart) can never overwrite the task's outcome — it is
kept on its attempt, marked late.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Integer, String, and_, func, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.tasks.models import (
    Attempt,
    AttemptState,
    DistributeRequest,
    GroupState,
    Task,
    TaskGroup,
    TaskRequest,
    TaskState,
)

MAX_ERROR = 4000
ACTIVE = (TaskState.QUEUED, TaskState.DISPATCHED, TaskState.RUNNING, TaskState.HELD)


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    project: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    group_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    actor: Mapped[str] = mapped_column(String(256))
    attempt: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    tried: Mapped[list[str]] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    is_error: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR), nullable=True)
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class TaskAttemptRow(Base):
    __tablename__ = "task_attempts"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR), nullable=True)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean)


class TaskGroupRow(Base):
    __tablename__ = "task_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    targets: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    winner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


def _group(row: TaskGroupRow) -> TaskGroup:
    return TaskGroup(
        id=row.id, request=DistributeRequest.model_validate(row.request), targets=list(row.targets),
        state=GroupState(row.state), created_at=row.created_at, actor=row.actor, winner=row.winner,
        finished_at=row.finished_at,
    )  # fmt: skip


def _task(row: TaskRow, attempts: Sequence[TaskAttemptRow] = ()) -> Task:
    return Task(
        id=row.id,
        request=TaskRequest.model_validate(row.request),
        state=TaskState(row.state),
        created_at=row.created_at,
        actor=row.actor,
        attempt=row.attempt,
        agent=row.agent,
        group_id=row.group_id,
        target=row.target,
        result=row.result,
        is_error=row.is_error,
        error=row.error,
        failure=row.failure,
        tried=list(row.tried),
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        attempts=[_attempt(item) for item in attempts],
    )


def _attempt(row: TaskAttemptRow) -> Attempt:
    return Attempt(
        row.task_id, row.number, row.agent, AttemptState(row.state), row.started_at, row.finished_at,
        row.error, row.result, row.late,
    )  # fmt: skip


class TaskStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, task: Task) -> None:
        row = insert(TaskRow).values(
            id=task.id,
            state=task.state.value,
            priority=task.request.priority,
            request=task.request.model_dump(mode="json"),
            project=task.request.project,
            group_id=task.group_id,
            target=task.target,
            actor=task.actor,
            attempt=0,
            agent=None,
            tried=[],
            result=None,
            is_error=False,
            error=None,
            failure=None,
            created_at=task.created_at,
            updated_at=task.created_at,
            finished_at=None,
        )
        await self._db.transact(lambda connection: connection.execute(row))

    async def get(self, task_id: str) -> Task | None:
        async with self._db.sessions() as session:
            row = await session.get(TaskRow, task_id)
            if row is None:
                return None
            attempts = (
                await session.scalars(
                    select(TaskAttemptRow)
                    .where(TaskAttemptRow.task_id == task_id)
                    .order_by(TaskAttemptRow.number)
                )
            ).all()
            return _task(row, attempts)

    async def queued(self, limit: int) -> list[Task]:
        """Queued tasks, highest priority first, then oldest."""
        query = (
            select(TaskRow)
            .where(TaskRow.state == TaskState.QUEUED.value)
            .order_by(TaskRow.priority.desc(), TaskRow.created_at, TaskRow.id)
            .limit(limit)
        )
        async with self._db.sessions() as session:
            return [_task(row) for row in (await session.scalars(query)).all()]

    async def counts(self, project: str | None = None) -> dict[TaskState, int]:
        """Tasks in the store by state (only this project's, when given)."""
        query = select(TaskRow.state, func.count()).group_by(TaskRow.state)
        if project is not None:
            query = query.where(TaskRow.project == project)
        async with self._db.sessions() as session:
            return {TaskState(state): count for state, count in (await session.execute(query)).all()}

    async def in_flight(self) -> list[Task]:
        """Tasks dispatched or running: after a restart, the ones the last process left in flight."""
        states = (TaskState.DISPATCHED.value, TaskState.RUNNING.value)
        async with self._db.sessions() as session:
            rows = (await session.scalars(select(TaskRow).where(TaskRow.state.in_(states)))).all()
            return [_task(row) for row in rows]

    async def page(
        self,
        *,
        state: TaskState | None = None,
        project: str | None = None,
        group_id: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Task]:
        """Newest first; ``before`` is the (created_at, id) of the last task of the previous page."""
        query = select(TaskRow)
        if state is not None:
            query = query.where(TaskRow.state == state.value)
        if project is not None:
            query = query.where(TaskRow.project == project)
        if group_id is not None:
            query = query.where(TaskRow.group_id == group_id)
        if before is not None:
            at, task_id = before
            query = query.where(
                (TaskRow.created_at < at) | (and_(TaskRow.created_at == at, TaskRow.id < task_id))
            )
        query = query.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(limit)
        async with self._db.sessions() as session:
            return [_task(row) for row in (await session.scalars(query)).all()]

    async def of_group(self, group_id: str) -> list[Task]:
        """A group's tasks in the order they were made, each with its attempts."""
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(TaskRow)
                    .where(TaskRow.group_id == group_id)
                    .order_by(TaskRow.created_at, TaskRow.id)
                )
            ).all()
            attempts = (
                await session.scalars(
                    select(TaskAttemptRow)
                    .where(TaskAttemptRow.task_id.in_([row.id for row in rows]))
                    .order_by(TaskAttemptRow.number)
                )
            ).all()
        by_task: dict[str, list[TaskAttemptRow]] = {}
        for attempt in attempts:
            by_task.setdefault(attempt.task_id, []).append(attempt)
        return [_task(row, by_task.get(row.id, [])) for row in rows]

    async def dispatch(
        self, task: Task, agent: str, now: datetime, state: TaskState = TaskState.DISPATCHED
    ) -> bool:
        """Start attempt ``task.attempt + 1`` on ``agent``, the task moving to ``state`` (``running`` when
        the call starts in this process at once): only if the task is still queued at the attempt it was
        read at. Returns False when another change came first (e.g. a cancel)."""
        number = task.attempt + 1
        moved = (
            update(TaskRow)
            .where(
                TaskRow.id == task.id,
                TaskRow.attempt == task.attempt,
                TaskRow.state == TaskState.QUEUED.value,
            )
            .values(
                state=state.value, attempt=number, agent=agent, tried=[*task.tried, agent], updated_at=now
            )
        )
        started = insert(TaskAttemptRow).values(
            task_id=task.id,
            number=number,
            agent=agent,
            state=AttemptState.RUNNING.value,
            started_at=now,
            finished_at=None,
            error=None,
            result=None,
            late=False,
        )

        def write(connection: Connection) -> bool:
            if connection.execute(moved).rowcount != 1:
                return False
            connection.execute(started)
            return True

        if not await self._db.transact(write):
            return False
        task.attempt, task.agent, task.state = number, agent, state
        task.tried = [*task.tried, agent]
        return True

    async def move(
        self,
        task_id: str,
        attempt: int,
        state: TaskState,
        now: datetime,
        *,
        from_states: Sequence[TaskState] = ACTIVE,
        attempt_state: AttemptState | None = None,
        result: Any = None,
        is_error: bool = False,
        error: str | None = None,
        failure: str | None = None,
    ) -> bool:
        """Move the task to ``state`` if ``attempt`` is still its current one and it is in one of
        ``from_states``; record ``attempt_state`` on that attempt either way (marked late when the
        task had moved on). Returns whether the task moved."""
        values: dict[str, Any] = {"state": state.value, "updated_at": now}
        if state.finished:
            values.update(
                finished_at=now, result=result, is_error=is_error, error=_cut(error), failure=failure
            )
        elif state is TaskState.QUEUED:
            values.update(agent=None, error=_cut(error))
        elif error is not None:
            values["error"] = _cut(error)
        moved = (
            update(TaskRow)
            .where(
                TaskRow.id == task_id,
                TaskRow.attempt == attempt,
                TaskRow.state.in_([item.value for item in from_states]),
            )
            .values(values)
        )

        def write(connection: Connection) -> bool:
            current = connection.execute(moved).rowcount == 1
            if attempt_state is not None and attempt > 0:
                connection.execute(
                    update(TaskAttemptRow)
                    .where(
                        TaskAttemptRow.task_id == task_id,
                        TaskAttemptRow.number == attempt,
                        TaskAttemptRow.state == AttemptState.RUNNING.value,
                    )
                    .values(
                        state=attempt_state.value,
                        finished_at=now,
                        error=_cut(error),
                        result=result,
                        late=not current,
                    )
                )
            return current

        return await self._db.transact(write)

    async def cancel(self, task_id: str, now: datetime, reason: str) -> Task | None:
        """Cancel a task that has not finished; returns it as it was before, or None if it had finished
        (or does not exist). An attempt still running keeps running until its call ends; what it
        answers then is kept on the attempt, marked late."""
        task = await self.get(task_id)
        if task is None or task.state.finished:
            return None
        moved = await self.move(task_id, task.attempt, TaskState.CANCELLED, now, is_error=True, error=reason)
        return task if moved else None


class GroupStore:
    """The ``task_groups`` table; a group's tasks are in ``tasks`` with its ``group_id``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, group: TaskGroup) -> None:
        async with self._db.write() as session:
            session.add(
                TaskGroupRow(
                    id=group.id,
                    request=group.request.model_dump(mode="json"),
                    targets=group.targets,
                    state=group.state.value,
                    winner=None,
                    actor=group.actor,
                    created_at=group.created_at,
                    finished_at=None,
                )  # fmt: skip
            )

    async def get(self, group_id: str) -> TaskGroup | None:
        async with self._db.sessions() as session:
            row = await session.get(TaskGroupRow, group_id)
            return _group(row) if row is not None else None

    async def running(self) -> list[TaskGroup]:
        query = select(TaskGroupRow).where(TaskGroupRow.state == GroupState.RUNNING.value)
        async with self._db.sessions() as session:
            return [_group(row) for row in (await session.scalars(query)).all()]

    async def crown(self, group_id: str, task_id: str) -> bool:
        """Make ``task_id`` the group's winner, if it has none yet; returns whether it did."""
        async with self._db.write() as session:
            crowned = await session.execute(
                update(TaskGroupRow)
                .where(TaskGroupRow.id == group_id, TaskGroupRow.winner.is_(None))
                .values(winner=task_id)
            )
            return bool(crowned.rowcount == 1)  # type: ignore[attr-defined]

    async def finish(self, group_id: str, state: GroupState, now: datetime) -> bool:
        """Settle a running group; returns whether this call did."""
        async with self._db.write() as session:
            done = await session.execute(
                update(TaskGroupRow)
                .where(TaskGroupRow.id == group_id, TaskGroupRow.state == GroupState.RUNNING.value)
                .values(state=state.value, finished_at=now)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
