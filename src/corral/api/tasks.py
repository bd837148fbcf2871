"""REST routes for tasks and agents: submit, read, cancel and decide tasks; the agents and their load.

A task is stored before it is dispatched, so ``POST /tasks`` answers 201 with the queued task; its
progress and outcome come on the ``tasks`` topic of the event stream, and from ``GET /tasks/{id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from corral.api.authz import Operator
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, by_time_and_id, next_page, page_of
from corral.api.problems import documented
from corral.registry.models import AgentSpec
from corral.tasks.agents import AgentView
from corral.tasks.groups import Aggregate
from corral.tasks.models import (
    Attempt,
    DistributeRequest,
    GroupState,
    Task,
    TaskGroup,
    TaskRequest,
    TaskState,
)

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Ctx = Annotated[ApiContext, Depends(context)]
TASKS = by_time_and_id("tasks")
AGENTS = by_text("agents")


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


class TaskList(Page[TaskOut]):
    """Tasks, newest first."""


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "fail"] = Field(description="Run the held task again, or fail it.")


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


class AgentList(Page[AgentOut]):
    """Agents sorted by id."""


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


async def group_out(ctx: ApiContext, group_id: str) -> TaskGroupOut:
    aggregate = await ctx.task_groups.aggregate(group_id)
    return TaskGroupOut.of(await ctx.task_groups.get(group_id), aggregate)


@router.post(
    "/tasks",
    status_code=201,
    summary="Submit a task: stored, then routed to the best eligible agent (422 when none ever could)",
)
async def submit_task(body: TaskRequest, principal: Operator, ctx: Ctx) -> TaskOut:
    return TaskOut.of(await ctx.tasks.submit(body, actor=principal.name))


@router.get("/tasks", summary="Tasks, newest first")
async def list_tasks(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    state: Annotated[TaskState | None, Query(description="Only tasks in this state.")] = None,
    project: Annotated[str | None, Query(description="Only this project's tasks.")] = None,
    group_id: Annotated[str | None, Query(description="Only this task group's tasks.")] = None,
) -> TaskList:
    tasks = await ctx.tasks.store.page(
        state=state, project=project, group_id=group_id, before=TASKS.key(cursor), limit=limit + 1
    )
    page, next_cursor = next_page(tasks, limit, TASKS, lambda task: (task.created_at, task.id))
    return TaskList(items=[TaskOut.of(task) for task in page], next_cursor=next_cursor)


@router.get("/tasks/{task_id}", summary="One task with every attempt")
async def get_task(task_id: str, ctx: Ctx) -> TaskOut:
    return TaskOut.of(await ctx.tasks.get(task_id))


@router.post(
    "/tasks/{task_id}/cancel",
    summary="Cancel a task; a running call is cancelled upstream (409 when it has finished)",
    responses=documented(409),
)
async def cancel_task(task_id: str, principal: Operator, ctx: Ctx) -> TaskOut:
    return TaskOut.of(await ctx.tasks.cancel(task_id, actor=principal.name))


@router.post(
    "/tasks/{task_id}/decide",
    summary="Settle a task held after a restart: run it again, or fail it (409 when it is not held)",
    responses=documented(409),
)
async def decide_task(task_id: str, body: DecideIn, principal: Operator, ctx: Ctx) -> TaskOut:
    return TaskOut.of(await ctx.tasks.decide(task_id, body.action, actor=principal.name))


@router.post(
    "/task-groups",
    status_code=201,
    summary="Distribute one task over several targets: parallel, race, any or sequential",
)
async def distribute_task(body: DistributeRequest, principal: Operator, ctx: Ctx) -> TaskGroupOut:
    group = await ctx.task_groups.distribute(body, actor=principal.name)
    return await group_out(ctx, group.id)


@router.get("/task-groups/{group_id}", summary="A task group with every target's outcome, aggregated")
async def get_task_group(group_id: str, ctx: Ctx) -> TaskGroupOut:
    return await group_out(ctx, group_id)


@router.post(
    "/task-groups/{group_id}/cancel",
    summary="Cancel a task group's unfinished tasks (409 when it has finished)",
    responses=documented(409),
)
async def cancel_task_group(group_id: str, principal: Operator, ctx: Ctx) -> TaskGroupOut:
    await ctx.task_groups.cancel(group_id, actor=principal.name)
    return await group_out(ctx, group_id)


@router.get("/agents", summary="Agents (servers with an agent section) and their live load")
async def list_agents(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    capability: Annotated[str | None, Query(description="Only agents with this capability.")] = None,
) -> AgentList:
    views = [
        view
        for view in ctx.tasks.agents.views()
        if capability is None or capability in view.spec.capabilities
    ]
    page, next_cursor = page_of(views, lambda view: view.id, limit, AGENTS, cursor)
    return AgentList(items=[AgentOut.of(view) for view in page], next_cursor=next_cursor)


@router.get("/agents/{agent_id:path}", summary="One agent, by '<node>/<server>' (or its server's name)")
async def get_agent(agent_id: str, ctx: Ctx) -> AgentOut:
    return AgentOut.of(ctx.tasks.agents.view(agent_id))
