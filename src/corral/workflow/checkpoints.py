"""Checkpoints written together: one writer, one transaction for whatever is waiting (group commit).

Every change an execution's owner makes is a ``Checkpoint``: the execution's row, the step's row and
the event that tells of it, which the store gets atomically. The owner queues it and, when the change
must be durable before it goes on (a step's result before its dependents start; the record that a step
with side effects started, before its call), waits for it. The writer takes everything queued while
the previous batch was being written and writes it as one transaction: a hub running many executions
pays one commit for many checkpoints, one running a single chain pays one per wait. Events reach the
bus only once their batch committed, so what a watcher sees is in the store.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import Connection, Insert, Table, Update, bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from corral.db.base import Base
from corral.db.engine import Database
from corral.errors import CorralError
from corral.events.bus import EventBus
from corral.workflow.store import Execution, ExecutionEventRow, ExecutionRow, StepRun, StepRunRow

logger = logging.getLogger(__name__)

QUEUED_LINGER_S = 0.05
"""How long checkpoints nobody waits for wait for one that somebody does, to share its transaction."""
WRITE_TIMEOUT_S = 30.0
"""A batch that takes longer fails (its waiters see the error); SQLite's busy timeout is far below it."""


class WriterStopped(CorralError):
    """The hub is stopping: checkpoints are no longer written."""


@dataclass(frozen=True)
class Checkpoint:
    """One change of an execution, as the store records it.

    ``execution`` is the execution as it stands after the change (its row is written whole: the owner is
    its only writer); ``step`` the step's row values, taken when the change was made; ``new`` marks an
    execution's first checkpoint, which inserts its row unless one with its id exists.
    """

    execution: Execution
    seq: int
    type: str
    time: datetime
    data: dict[str, Any] = field(default_factory=dict)
    step: dict[str, Any] | None = None
    new: bool = False

    @property
    def step_key(self) -> str | None:
        return self.step["key"] if self.step is not None else None


class _Queued:
    __slots__ = ("checkpoint", "done", "error", "waited", "written")

    def __init__(self, checkpoint: Checkpoint, waited: bool) -> None:
        self.checkpoint = checkpoint
        self.waited = waited
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.written = False


class CheckpointWriter:
    """Owns the batches; ``run`` must be started before the engine's executions and stopped after them."""

    def __init__(self, database: Database, bus: EventBus) -> None:
        self._database = database
        self._bus = bus
        self._queue: list[_Queued] = []
        self._wake = anyio.Event()  # anything queued
        self._waiter = anyio.Event()  # something queued that somebody waits for (or closing)
        self._closing = False

    async def write(self, checkpoint: Checkpoint) -> bool:
        """Store ``checkpoint`` and return once it is durable; False when it was a new execution's first
        and an execution with that id exists (nothing of it was written).

        Raises:
            WriterStopped: the hub is stopping.
            sqlalchemy.exc.SQLAlchemyError: the batch could not be written.
        """
        queued = self._enqueue(checkpoint, waited=True)
        await queued.done.wait()
        if queued.error is not None:
            raise queued.error
        return queued.written

    def queue(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` with the next batch, without waiting: for a change that may be lost in a
        crash without harm (a later ``write`` of the same execution makes it durable first). It waits
        up to ``QUEUED_LINGER_S`` for one that is waited for, so that a step's start and its result
        usually share one transaction."""
        self._enqueue(checkpoint, waited=False)

    def _enqueue(self, checkpoint: Checkpoint, *, waited: bool) -> _Queued:
        if self._closing:
            raise WriterStopped("the workflow engine is stopping")
        queued = _Queued(checkpoint, waited)
        self._queue.append(queued)
        self._wake.set()
        if waited:
            self._waiter.set()
        return queued

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Write batches until ``close``; not cancellable, so the executions' last (shielded) checkpoints
        are written when the hub stops. The engine closes it once its executions have ended."""
        task_status.started()
        with anyio.CancelScope(shield=True):
            while not (self._closing and not self._queue):
                await self._wake.wait()
                with anyio.move_on_after(QUEUED_LINGER_S):
                    await self._waiter.wait()
                self._wake, self._waiter = anyio.Event(), anyio.Event()
                batch, self._queue = self._queue, []
                if batch:
                    await self._write(batch)

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._waiter.set()

    async def _write(self, batch: list[_Queued]) -> None:
        checkpoints = [queued.checkpoint for queued in batch]
        try:
            with anyio.fail_after(WRITE_TIMEOUT_S):
                refused = await self._database.transact(functools.partial(_write_batch, checkpoints))
        except Exception as exc:  # the owners hear of it and decide what it means
            if len(batch) > 1:
                # One execution's bad checkpoint must not fail the others': each alone, in order.
                logger.warning(
                    "a batch of %d checkpoints failed (%s); writing them one by one", len(batch), exc
                )
                for queued in batch:
                    await self._write([queued])
                return
            logger.warning(
                "could not write a checkpoint of execution %s: %s", checkpoints[0].execution.id, exc
            )
            batch[0].error = exc
            batch[0].done.set()
            return
        for index, queued in enumerate(batch):
            queued.written = index not in refused
            if queued.written:
                checkpoint = queued.checkpoint
                self._bus.publish(
                    "executions",
                    checkpoint.type,
                    checkpoint.execution.id,
                    {"seq": checkpoint.seq, "step": checkpoint.step_key, **checkpoint.data},
                )
            queued.done.set()


def _write_batch(checkpoints: Sequence[Checkpoint], connection: Connection) -> set[int]:
    """Write a batch in the caller's transaction; returns the indexes of new executions whose id existed
    (nothing of theirs is written)."""
    dialect = connection.dialect.name
    refused: set[int] = set()
    executions: dict[str, dict[str, Any]] = {}
    steps: dict[tuple[str, str], dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for index, checkpoint in enumerate(checkpoints):
        execution = checkpoint.execution
        if checkpoint.new:
            inserted = connection.execute(_execution_insert(dialect), _new_execution(execution))
            if inserted.rowcount == 0:
                refused.add(index)
                continue
        # Later changes of the same row replace earlier ones: each is the row as it stood then.
        executions[execution.id] = _execution_changes(execution)
        if checkpoint.step is not None:
            steps[(execution.id, checkpoint.step["key"])] = checkpoint.step
        events.append(
            {
                "execution_id": execution.id,
                "seq": checkpoint.seq,
                "type": checkpoint.type,
                "step": checkpoint.step_key,
                "data": checkpoint.data,
                "time": checkpoint.time,
            }
        )
    if executions:
        connection.execute(_execution_update(), list(executions.values()))
    if steps:
        connection.execute(_step_upsert(dialect), list(steps.values()))
    if events:
        connection.execute(insert(_table(ExecutionEventRow)), events)
    return refused


def step_values(execution_id: str, step: StepRun) -> dict[str, Any]:
    """A step's row as it stands now (a copy: the run goes on changing)."""
    return {
        "execution_id": execution_id,
        "key": step.key,
        "step_id": step.step_id,
        "item": step.item,
        "status": step.status.value,
        "attempt": step.attempt,
        "result": step.result,
        "error": step.error,
        "server": step.server,
        "schema_hash": step.schema_hash,
        "uncertain": step.uncertain,
        "detail": dict(step.detail),
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "duration_s": step.duration_s,
    }


def _new_execution(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "workflow_id": execution.workflow_id,
        "version": execution.version,
        "status": execution.status.value,
        "params": execution.params,
        "target_machines": execution.target_machines,
        "parent": execution.parent,
        "error": execution.error,
        "last_seq": execution.last_seq,
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
    }


def _execution_changes(execution: Execution) -> dict[str, Any]:
    return {
        "b_id": execution.id,
        "b_status": execution.status.value,
        "b_error": execution.error,
        "b_started_at": execution.started_at,
        "b_finished_at": execution.finished_at,
        "b_last_seq": execution.last_seq,
    }


def _table(row: type[Base]) -> Table:
    """A row class's table: statements on it skip the ORM's bulk machinery, which checkpoints need not."""
    return Base.metadata.tables[row.__tablename__]


@functools.cache
def _execution_update() -> Update:
    table = _table(ExecutionRow)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            error=bindparam("b_error"),
            started_at=bindparam("b_started_at"),
            finished_at=bindparam("b_finished_at"),
            last_seq=bindparam("b_last_seq"),
        )
    )


@functools.cache
def _execution_insert(dialect: str) -> Insert:
    table = _table(ExecutionRow)
    statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    return statement.on_conflict_do_nothing(index_elements=["id"])


@functools.cache
def _step_upsert(dialect: str) -> Insert:
    """One statement that writes a step's row whether or not it exists yet, built once per dialect
    (building it, ``excluded`` above all, costs more than running it)."""
    table = _table(StepRunRow)
    statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    changed = {
        column.name: statement.excluded[column.name] for column in table.columns if not column.primary_key
    }
    return statement.on_conflict_do_update(index_elements=["execution_id", "key"], set_=changed)
