"""REST routes for tasks and agents: submit, read, cancel and decide tasks; the agents and their load.

A task is stored before it is dispatched, so ``POST /tasks`` answers 201 with the queued task; its
progress and outcome come on the ``tasks`` topic of the event stream, and from ``GET /tasks/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from corral.api.authz import Operator
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, by_time_and_id, next_page, page_of
from corral.api.problems import documented
from corral.strict import StrictModel
from corral.tasks.models import (
    DistributeRequest,
    TaskRequest,
    TaskState,
)
from corral.tasks.views import AgentOut, TaskGroupOut, TaskOut, group_out

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Ctx = Annotated[ApiContext, Depends(context)]
TASKS = by_time_and_id("tasks")
AGENTS = by_text("agents")


class TaskList(Page[TaskOut]):
    """Tasks, newest first."""


class DecideIn(StrictModel):
    action: Literal["retry", "fail"] = Field(description="Run the held task again, or fail it.")


class AgentList(Page[AgentOut]):
    """Agents sorted by id."""


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
    return await group_out(ctx.task_groups, group.id)


@router.get("/task-groups/{group_id}", summary="A task group with every target's outcome, aggregated")
async def get_task_group(group_id: str, ctx: Ctx) -> TaskGroupOut:
    return await group_out(ctx.task_groups, group_id)


@router.post(
    "/task-groups/{group_id}/cancel",
    summary="Cancel a task group's unfinished tasks (409 when it has finished)",
    responses=documented(409),
)
async def cancel_task_group(group_id: str, principal: Operator, ctx: Ctx) -> TaskGroupOut:
    await ctx.task_groups.cancel(group_id, actor=principal.name)
    return await group_out(ctx.task_groups, group_id)


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
