"""The workflow tables: versioned definitions, executions, step checkpoints and execution events.

Every change to an execution is written by ``checkpoints.CheckpointWriter``: the step's row, the
execution's row and the event that tells of it in one transaction, so after a crash the store never
says a step finished without its result, nor shows an event for a change that did not happen. This
module reads them, and stores definitions.
"""

from __future__ import annotations

import builtins
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.workflow.models import ExecutionStatus, StepStatus, WorkflowDefinition

CACHED_VERSIONS = 512
"""Parsed workflow versions kept in memory (least recently read dropped first)."""


class WorkflowRow(Base):
    __tablename__ = "workflows"

    workflow_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    pattern: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExecutionRow(Base):
    __tablename__ = "executions"
    # Lists filter by status or workflow and page newest first by (created_at, id): each index hands
    # out the matching rows already in that order.
    __table_args__ = (
        Index("ix_executions_created_at_id", "created_at", "id"),
        Index("ix_executions_status_created_at", "status", "created_at", "id"),
        Index("ix_executions_workflow_id_created_at", "workflow_id", "created_at", "id"),
        Index("ix_executions_finished_at_parent", "finished_at", "parent"),  # retention's
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    target_machines: Mapped[list[str]] = mapped_column(JSON)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StepRunRow(Base):
    __tablename__ = "step_runs"

    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(64))
    item: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    server: Mapped[str | None] = mapped_column(String(63), nullable=True)
    schema_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    uncertain: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class ExecutionEventRow(Base):
    __tablename__ = "execution_events"
    __table_args__ = (Index("ix_execution_events_execution_seq", "execution_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(160), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    time: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass
class StepRun:
    """One run of a step (or of one item of a for_each step), as checkpointed."""

    key: str
    step_id: str
    item: int | None = None
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    result: Any = None
    error: str | None = None
    server: str | None = None
    schema_hash: str | None = None
    uncertain: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "step_id": self.step_id,
            "item": self.item,
            "status": self.status.value,
            "attempt": self.attempt,
            "result": self.result,
            "error": self.error,
            "server": self.server,
            "schema_hash": self.schema_hash,
            "uncertain": self.uncertain,
            "detail": self.detail,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class Execution:
    id: str
    workflow_id: str
    version: int
    status: ExecutionStatus
    params: dict[str, Any]
    target_machines: list[str]
    parent: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_seq: int
    """The number of the execution's latest event."""

    def to_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.id,
            "workflow_id": self.workflow_id,
            "version": self.version,
            "status": self.status.value,
            "params": self.params,
            "target_machines": self.target_machines,
            "parent": self.parent,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class StoredWorkflow:
    definition: WorkflowDefinition
    version: int
    created_at: datetime


@dataclass(frozen=True)
class ExecutionEvent:
    id: int
    execution_id: str
    seq: int
    type: str
    step: str | None
    data: dict[str, Any]
    time: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "execution_id": self.execution_id,
            "seq": self.seq,
            "type": self.type,
            "step": self.step,
            "data": self.data,
            "time": self.time.isoformat(),
        }


def _execution(row: ExecutionRow) -> Execution:
    return Execution(
        row.id, row.workflow_id, row.version, ExecutionStatus(row.status), row.params, row.target_machines,
        row.parent, row.error, row.created_at, row.started_at, row.finished_at, row.last_seq,
    )  # fmt: skip


def _step_run(row: StepRunRow) -> StepRun:
    return StepRun(
        row.key, row.step_id, row.item, StepStatus(row.status), row.attempt, row.result, row.error,
        row.server, row.schema_hash, row.uncertain, row.detail, row.started_at, row.finished_at,
        row.duration_s,
    )  # fmt: skip


class WorkflowStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database
        # A version, once stored, never changes: reading one parses its JSON once, not on every poll.
        self._versions: OrderedDict[tuple[str, int], StoredWorkflow] = OrderedDict()
        # Each workflow's latest version, as this hub stored or read it: starting the latest version
        # of a workflow reads nothing. (Definitions are stored only through this class.)
        self._latest: dict[str, int] = {}

    # -- definitions -------------------------------------------------------------------------

    async def save_definition(self, definition: WorkflowDefinition, now: datetime) -> int:
        """Store a new version; returns its number (1 for a new workflow)."""
        async with self._db.write() as session:
            latest = await session.scalar(
                select(func.max(WorkflowRow.version)).where(WorkflowRow.workflow_id == definition.workflow_id)
            )
            version = (latest or 0) + 1
            session.add(
                WorkflowRow(
                    workflow_id=definition.workflow_id,
                    version=version,
                    name=definition.name,
                    pattern=definition.pattern,
                    definition=definition.model_dump(mode="json", by_alias=True),
                    created_at=now,
                )
            )
        self._latest[definition.workflow_id] = version
        return version

    async def definition(self, workflow_id: str, version: int | None = None) -> StoredWorkflow | None:
        version = version or self._latest.get(workflow_id)
        if version and (cached := self._versions.get((workflow_id, version))) is not None:
            self._versions.move_to_end((workflow_id, version))
            return cached
        query = select(WorkflowRow).where(WorkflowRow.workflow_id == workflow_id)
        query = (
            query.where(WorkflowRow.version == version)
            if version
            else query.order_by(WorkflowRow.version.desc())
        )
        async with self._db.sessions() as session:
            row = (await session.scalars(query.limit(1))).first()
            if row is None:
                return None
            stored = StoredWorkflow(
                WorkflowDefinition.model_validate(row.definition), row.version, row.created_at
            )
        if version is None:
            self._latest[workflow_id] = stored.version
        self._versions[(workflow_id, stored.version)] = stored
        if len(self._versions) > CACHED_VERSIONS:
            self._versions.popitem(last=False)
        return stored

    async def versions(self, workflow_id: str) -> builtins.list[StoredWorkflow]:
        query = (
            select(WorkflowRow).where(WorkflowRow.workflow_id == workflow_id).order_by(WorkflowRow.version)
        )
        async with self._db.sessions() as session:
            return [
                StoredWorkflow(WorkflowDefinition.model_validate(row.definition), row.version, row.created_at)
                for row in await session.scalars(query)
            ]

    async def latest_definitions(
        self, pattern: str | None = None, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[StoredWorkflow]:
        """The latest version of each workflow, by id; those with an id after ``after``, at most ``limit``."""
        latest = (
            select(WorkflowRow.workflow_id, func.max(WorkflowRow.version).label("version"))
            .group_by(WorkflowRow.workflow_id)
            .subquery()
        )
        query = select(WorkflowRow).join(
            latest,
            (WorkflowRow.workflow_id == latest.c.workflow_id) & (WorkflowRow.version == latest.c.version),
        )
        if pattern is not None:
            query = query.where(WorkflowRow.pattern == pattern)
        if after is not None:
            query = query.where(WorkflowRow.workflow_id > after)
        async with self._db.sessions() as session:
            rows = await session.scalars(query.order_by(WorkflowRow.workflow_id).limit(limit))
            return [
                StoredWorkflow(WorkflowDefinition.model_validate(row.definition), row.version, row.created_at)
                for row in rows
            ]

    # -- executions --------------------------------------------------------------------------

    async def execution(self, execution_id: str) -> Execution | None:
        async with self._db.sessions() as session:
            row = await session.get(ExecutionRow, execution_id)
            return _execution(row) if row else None

    async def executions(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[Execution]:
        """Newest first; ``before`` is the (created_at, id) of the last execution of the previous page."""
        query = select(ExecutionRow).order_by(ExecutionRow.created_at.desc(), ExecutionRow.id.desc())
        if workflow_id is not None:
            query = query.where(ExecutionRow.workflow_id == workflow_id)
        if status is not None:
            query = query.where(ExecutionRow.status == status)
        if before is not None:
            created_at, execution_id = before
            query = query.where(
                (ExecutionRow.created_at < created_at)
                | ((ExecutionRow.created_at == created_at) & (ExecutionRow.id < execution_id))
            )
        async with self._db.sessions() as session:
            return [_execution(row) for row in await session.scalars(query.limit(limit))]

    async def unfinished(self) -> builtins.list[Execution]:
        unfinished = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
        query = select(ExecutionRow).where(ExecutionRow.status.in_([status.value for status in unfinished]))
        async with self._db.sessions() as session:
            return [_execution(row) for row in await session.scalars(query.order_by(ExecutionRow.created_at))]

    async def execution_with_steps(self, execution_id: str) -> tuple[Execution, dict[str, StepRun]] | None:
        """An execution and its step runs, read together (one session)."""
        query = select(StepRunRow).where(StepRunRow.execution_id == execution_id)
        async with self._db.sessions() as session:
            row = await session.get(ExecutionRow, execution_id)
            if row is None:
                return None
            return _execution(row), {run.key: _step_run(run) for run in await session.scalars(query)}

    async def step_runs(self, execution_id: str) -> dict[str, StepRun]:
        query = select(StepRunRow).where(StepRunRow.execution_id == execution_id)
        async with self._db.sessions() as session:
            return {row.key: _step_run(row) for row in await session.scalars(query)}

    async def events(
        self, execution_id: str, after_seq: int = 0, limit: int = 1000
    ) -> builtins.list[ExecutionEvent]:
        query = (
            select(ExecutionEventRow)
            .where(ExecutionEventRow.execution_id == execution_id, ExecutionEventRow.seq > after_seq)
            .order_by(ExecutionEventRow.seq)
            .limit(limit)
        )
        async with self._db.sessions() as session:
            return [
                ExecutionEvent(row.id, row.execution_id, row.seq, row.type, row.step, row.data, row.time)
                for row in await session.scalars(query)
            ]

    async def step_durations(self, workflow_id: str, limit: int = 50) -> dict[str, builtins.list[float]]:
        """Recent durations of each step of a workflow's completed runs, for estimates."""
        query = (
            select(StepRunRow.step_id, StepRunRow.duration_s)
            .join(ExecutionRow, ExecutionRow.id == StepRunRow.execution_id)
            .where(
                ExecutionRow.workflow_id == workflow_id,
                StepRunRow.status == StepStatus.COMPLETED.value,
                StepRunRow.duration_s.is_not(None),
                StepRunRow.item.is_(None),
            )
            .order_by(StepRunRow.finished_at.desc())
            .limit(limit * 20)
        )
        durations: dict[str, builtins.list[float]] = {}
        async with self._db.sessions() as session:
            for step_id, duration in await session.execute(query):
                bucket = durations.setdefault(step_id, [])
                if duration is not None and len(bucket) < limit:
                    bucket.append(duration)
        return durations


@dataclass(frozen=True)
class ExecutionFacts:
    """What metrics need of one execution."""

    id: str
    workflow_id: str
    status: ExecutionStatus
    seconds: float | None


class WorkflowHistory:
    """Reading and writing a workflow's history in bulk: metrics and export/import."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def status_counts(self, workflow_ids: Sequence[str] | None = None) -> dict[ExecutionStatus, int]:
        """How many executions the store holds in each status (every status, zeros included); only those
        of ``workflow_ids`` when given."""
        query = select(ExecutionRow.status, func.count()).group_by(ExecutionRow.status)
        if workflow_ids is not None:
            query = query.where(ExecutionRow.workflow_id.in_(workflow_ids))
        async with self._db.sessions() as session:
            found = dict((await session.execute(query)).all())
        return {status: found.get(status.value, 0) for status in ExecutionStatus}

    async def executions_between(
        self, since: datetime | None, until: datetime | None, workflow_id: str | None
    ) -> builtins.list[ExecutionFacts]:
        query = select(ExecutionRow)
        if since is not None:
            query = query.where(ExecutionRow.created_at >= since)
        if until is not None:
            query = query.where(ExecutionRow.created_at < until)
        if workflow_id is not None:
            query = query.where(ExecutionRow.workflow_id == workflow_id)
        async with self._db.sessions() as session:
            return [
                ExecutionFacts(
                    row.id,
                    row.workflow_id,
                    ExecutionStatus(row.status),
                    (row.finished_at - row.started_at).total_seconds()
                    if row.finished_at and row.started_at
                    else None,
                )
                for row in await session.scalars(query)
            ]

    async def step_facts(
        self, execution_ids: Sequence[str]
    ) -> builtins.list[tuple[str, str, int, float | None]]:
        """(workflow_id, step_id, attempts, seconds) of the steps (not for_each items) of these executions."""
        if not execution_ids:
            return []
        query = (
            select(ExecutionRow.workflow_id, StepRunRow.step_id, StepRunRow.attempt, StepRunRow.duration_s)
            .join(ExecutionRow, ExecutionRow.id == StepRunRow.execution_id)
            .where(StepRunRow.execution_id.in_(execution_ids))
        )
        async with self._db.sessions() as session:
            return [(row[0], row[1], row[2], row[3]) for row in await session.execute(query)]

    async def export_rows(self, workflow_id: str) -> dict[str, Any]:
        async with self._db.sessions() as session:
            versions = await session.scalars(
                select(WorkflowRow)
                .where(WorkflowRow.workflow_id == workflow_id)
                .order_by(WorkflowRow.version)
            )
            executions = list(
                await session.scalars(
                    select(ExecutionRow)
                    .where(ExecutionRow.workflow_id == workflow_id)
                    .order_by(ExecutionRow.created_at)
                )
            )
            ids = [row.id for row in executions]
            steps_by_execution: dict[str, builtins.list[dict[str, Any]]] = {}
            for step in await session.scalars(select(StepRunRow).where(StepRunRow.execution_id.in_(ids))):
                steps_by_execution.setdefault(step.execution_id, []).append(_step_run(step).to_json())
            return {
                "versions": [
                    {
                        "version": row.version,
                        "created_at": row.created_at.isoformat(),
                        "definition": row.definition,
                    }
                    for row in versions
                ],
                "executions": [
                    {**_execution(row).to_json(), "steps": steps_by_execution.get(row.id, [])}
                    for row in executions
                ],
            }

    async def import_execution(self, record: dict[str, Any], version: int) -> bool:
        """Store a finished execution from an export; False when one with its id exists already."""
        async with self._db.write() as session:
            if await session.get(ExecutionRow, record["execution_id"]) is not None:
                return False
            session.add(
                ExecutionRow(
                    id=record["execution_id"],
                    workflow_id=record["workflow_id"],
                    version=version,
                    status=record["status"],
                    params=record.get("params") or {},
                    target_machines=record.get("target_machines") or [],
                    parent=record.get("parent"),
                    error=record.get("error"),
                    last_seq=0,
                    created_at=datetime.fromisoformat(record["created_at"]),
                    started_at=_time(record.get("started_at")),
                    finished_at=_time(record.get("finished_at")),
                )
            )
            await session.flush()
            for step in record.get("steps", []):
                session.add(
                    StepRunRow(
                        execution_id=record["execution_id"],
                        key=step["key"],
                        step_id=step["step_id"],
                        item=step.get("item"),
                        status=step["status"],
                        attempt=step.get("attempt", 0),
                        result=step.get("result"),
                        error=step.get("error"),
                        server=step.get("server"),
                        schema_hash=step.get("schema_hash"),
                        uncertain=False,
                        detail=step.get("detail") or {},
                        started_at=_time(step.get("started_at")),
                        finished_at=_time(step.get("finished_at")),
                        duration_s=step.get("duration_s"),
                    )  # fmt: skip
                )
            return True


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
