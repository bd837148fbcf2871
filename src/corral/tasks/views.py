"""Tasks, task groups and agents as REST, MCP tools and the dashboard show them: one model per shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from corral.projects.projects import Project, ProjectMetrics
from corral.registry.models import AgentSpec
from corral.tasks.agents import AgentView
from corral.tasks.groups import Aggregate, TaskGroups
from corral.tasks.models import (
    Attempt,
    DistributeRequest,
    GroupState,
    Task,
    TaskGroup,
    TaskRequest,
    TaskState,
)


class AttemptOut(BaseModel):
    number: int
    agent: str
    state: str = Field(description="running, completed, failed, lost (the hub stopped) or cancelled.")
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    result: Any = Field(None, description="What the attempt's call returned (also when it came late).")
    late: bool = Field(description="It answered after the task was settled otherwise (cancelled, won).")

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            number=attempt.number, agent=attempt.agent, state=attempt.state.value,
            started_at=attempt.started_at, finished_at=attempt.finished_at, error=attempt.error,
            result=attempt.result, late=attempt.late,
        )  # fmt: skip


class TaskOut(BaseModel):
    id: str
    state: TaskState
    request: TaskRequest
    project: str | None
    group_id: str | None
    actor: str = Field(description="Who submitted it.")
    attempt: int = Field(description="The current attempt's number (0: not dispatched yet).")
    agent: str | None = Field(description="The agent of the current attempt, '<node>/<server>'.")
    tried: list[str] = Field(description="Agents tried, in order.")
    result: Any = Field(None, description="The tool's structured content, else its text (parsed when JSON).")
    is_error: bool
    error: str | None
    created_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None
    attempts: list[AttemptOut] = Field(description="Every attempt (only in a single task's answer).")

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id, state=task.state, request=task.request, project=task.project, group_id=task.group_id,
            actor=task.actor, attempt=task.attempt, agent=task.agent, tried=task.tried, result=task.result,
            is_error=task.is_error, error=task.error, created_at=task.created_at, updated_at=task.updated_at,
            finished_at=task.finished_at, attempts=[AttemptOut.of(item) for item in task.attempts],
        )  # fmt: skip


class AgentOut(BaseModel):
    id: str = Field(description="'<node>/<server>'.")
    node: str
    server: str
    agent: AgentSpec = Field(description="The server's agent section.")
    status: str = Field(description="The server's status.")
    circuit_state: str
    node_alive: bool
    tools: list[str]
    in_flight: int = Field(description="Tasks running on it now.")
    queued: int = Field(description="Queued tasks it could run that are waiting.")
    completed: int
    failed: int
    mean_latency_ms: float | None

    @classmethod
    def of(cls, view: AgentView) -> AgentOut:
        return cls(
            id=view.id, node=view.node, server=view.server, agent=view.spec, status=view.status,
            circuit_state=view.circuit_state, node_alive=view.node_alive, tools=list(view.tools),
            in_flight=view.in_flight, queued=view.queued, completed=view.completed, failed=view.failed,
            mean_latency_ms=view.mean_latency_ms,
        )  # fmt: skip


class TargetOutcomeOut(BaseModel):
    target: str = Field(description="The agent or node the task ran for ('any': routing chose).")
    task_id: str
    state: str
    agent: str | None
    result: Any = None
    error: str | None
    late_results: list[Any] = Field(description="Answers that came after the task was settled otherwise.")


class TaskGroupOut(BaseModel):
    id: str
    strategy: str
    state: GroupState
    targets: list[str]
    winner: str | None = Field(description="race: the task that won.")
    request: DistributeRequest
    actor: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = Field(description="Tasks by state.")
    outcomes: list[TargetOutcomeOut] = Field(description="Per target: its task's outcome and result.")
    merged: dict[str, Any] = Field(
        description="The successful results that are objects, merged in target order."
    )

    @classmethod
    def of(cls, group: TaskGroup, aggregate: Aggregate) -> TaskGroupOut:
        return cls(
            id=group.id, strategy=group.request.execution_strategy, state=group.state, targets=group.targets,
            winner=group.winner, request=group.request, actor=group.actor, created_at=group.created_at,
            finished_at=group.finished_at, counts=aggregate.counts,
            outcomes=[TargetOutcomeOut(**outcome.__dict__) for outcome in aggregate.outcomes],
            merged=aggregate.merged,
        )  # fmt: skip


async def group_out(groups: TaskGroups, group_id: str) -> TaskGroupOut:
    """A group with its aggregate. Raises: NotFound."""
    aggregate = await groups.aggregate(group_id)
    return TaskGroupOut.of(await groups.get(group_id), aggregate)


class ProjectOut(BaseModel):
    name: str
    description: str
    created_at: datetime
    servers: list[str] = Field(description="Servers whose spec names the project.")
    agents: list[str] = Field(description="Those of its servers that are agents.")
    workflows: list[str] = Field(description="Workflows whose latest version names the project.")

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(**project.__dict__)


class ProjectMetricsOut(BaseModel):
    project: str
    calls: int = Field(description="Tool calls to its servers since the hub started.")
    errors: int = Field(description="Of those, the ones that did not end ok.")
    p95_ms: float | None = Field(description="95th percentile of their recent latencies.")
    tasks: dict[str, int] = Field(description="Its tasks by state.")
    executions: dict[str, int] = Field(description="Its workflows' executions by status.")

    @classmethod
    def of(cls, metrics: ProjectMetrics) -> ProjectMetricsOut:
        return cls(**metrics.__dict__)
