"""Projects: named groups of servers (and so agents), workflows and tasks, with metrics per project.

A server, workflow or task names its project (``project:``); a project is made explicitly (REST, MCP)
and holds a description. Routing limited to a project takes only its agents (``TaskRequest.project``).
A project with members cannot be deleted: its servers, workflows and tasks still name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from corral.calls.metrics import CallMetrics
from corral.clock import Clock
from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.errors import Conflict, InvalidInput, NotFound
from corral.supervisor.supervisor import Supervisor
from corral.tasks.store import TaskStore
from corral.workflow.store import WorkflowHistory, WorkflowStore

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ProjectRow(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Project:
    name: str
    description: str
    created_at: datetime
    servers: list[str]
    agents: list[str]
    workflows: list[str]


@dataclass(frozen=True)
class ProjectMetrics:
    project: str
    calls: int
    errors: int
    p95_ms: float | None
    tasks: dict[str, int]
    executions: dict[str, int]


class Projects:
    def __init__(
        self,
        database: Database,
        supervisor: Supervisor,
        workflows: WorkflowStore,
        history: WorkflowHistory,
        tasks: TaskStore,
        calls: CallMetrics,
        clock: Clock,
    ) -> None:
        self._db = database
        self._supervisor = supervisor
        self._workflows = workflows
        self._history = history
        self._tasks = tasks
        self._calls = calls
        self._clock = clock

    async def create(self, name: str, description: str = "") -> Project:
        """Raises: InvalidInput for a bad name; Conflict when it exists."""
        if not NAME.match(name):
            raise InvalidInput(
                f"project name {name!r}: letters, digits, '_', '-', '.'; at most 128 characters"
            )
        try:
            async with self._db.write() as session:
                session.add(ProjectRow(name=name, description=description, created_at=self._clock.now()))
        except IntegrityError as exc:
            raise Conflict(f"project {name!r} exists already") from exc
        return await self.get(name)

    async def update(self, name: str, description: str) -> Project:
        """Raises: NotFound."""
        async with self._db.write() as session:
            row = await session.get(ProjectRow, name)
            if row is None:
                raise NotFound(f"no project {name!r}")
            row.description = description
        return await self.get(name)

    async def delete(self, name: str) -> None:
        """Raises: NotFound; Conflict while servers, workflows or tasks still name it."""
        project = await self.get(name)
        members = [*project.servers, *project.workflows]
        if members or await self._tasks.page(project=name, limit=1):
            named = ", ".join(members[:10]) or "its tasks"
            raise Conflict(f"project {name!r} still has members ({named}); move or remove them first")
        async with self._db.write() as session:
            await session.execute(delete(ProjectRow).where(ProjectRow.name == name))

    async def get(self, name: str) -> Project:
        """Raises: NotFound."""
        async with self._db.sessions() as session:
            row = await session.get(ProjectRow, name)
        if row is None:
            raise NotFound(f"no project {name!r}")
        return await self._project(row)

    async def list(self) -> list[Project]:
        async with self._db.sessions() as session:
            rows = (await session.scalars(select(ProjectRow).order_by(ProjectRow.name))).all()
        return [await self._project(row) for row in rows]

    async def exists(self, name: str) -> bool:
        async with self._db.sessions() as session:
            return await session.get(ProjectRow, name) is not None

    async def metrics(self, name: str) -> ProjectMetrics:
        """Raises: NotFound."""
        project = await self.get(name)
        calls = self._calls.summary(set(project.servers))
        tasks = await self._tasks.counts(project=name)
        executions = await self._history.status_counts(project.workflows) if project.workflows else {}
        return ProjectMetrics(
            project=name,
            calls=calls.calls,
            errors=calls.errors,
            p95_ms=calls.p95_ms,
            tasks={state.value: count for state, count in tasks.items()},
            executions={status.value: count for status, count in executions.items() if count},
        )

    async def _project(self, row: ProjectRow) -> Project:
        runners = [runner for runner in self._supervisor.runners() if runner.spec.project == row.name]
        workflows = [
            stored.definition.workflow_id
            for stored in await self._workflows.latest_definitions()
            if stored.definition.project == row.name
        ]
        return Project(
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            servers=sorted(runner.spec.name for runner in runners),
            agents=sorted(runner.spec.name for runner in runners if runner.spec.agent is not None),
            workflows=workflows,
        )
