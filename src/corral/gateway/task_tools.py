"""Corral's task tools for MCP clients: agents, tasks, task groups.

``manage_agents`` (list, details, register, update, remove: an agent is a server with an ``agent``
section, so registering one registers or updates that server), ``manage_tasks`` (create, get, list,
cancel), ``distribute_task``, ``get_task_status`` (a task or a group), ``aggregate_task_results`` and
``manage_projects``.
Their answers are the same models REST answers with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from corral.auth.principal import Role
from corral.errors import InvalidInput
from corral.gateway.management import ManagementTool, define_tool
from corral.projects.projects import Projects
from corral.registry.models import AgentSpec, ServerSpec
from corral.registry.registry import Registry
from corral.strict import StrictModel
from corral.tasks.dispatcher import TaskDispatcher
from corral.tasks.groups import TaskGroups
from corral.tasks.models import DistributeRequest, TaskRequest, TaskState
from corral.tasks.views import AgentOut, ProjectMetricsOut, ProjectOut, TaskGroupOut, TaskOut, group_out

ACTOR = "mcp"
AGENT_ROLES = {"list": Role.VIEWER, "details": Role.VIEWER}
TASK_ROLES = {"get": Role.VIEWER, "list": Role.VIEWER}
PROJECT_ROLES = dict.fromkeys(("list", "details", "metrics", "tasks"), Role.VIEWER)


class ManageAgentsInput(StrictModel):
    action: Literal["list", "details", "register", "update", "remove"]
    agent: str | None = Field(
        None, description="'<node>/<server>' or the server's name; for every action but 'list'."
    )
    config: dict[str, Any] | None = Field(
        None, description="For 'register': the server's mcpServers entry, if it is not registered yet."
    )
    spec: AgentSpec | None = Field(None, description="For 'register' and 'update': the agent section.")


class AgentsOutput(BaseModel):
    action: str
    agents: list[AgentOut]
    message: str = ""


class ManageTasksInput(StrictModel):
    action: Literal["create", "get", "list", "cancel"]
    task: TaskRequest | None = Field(None, description="For 'create'.")
    task_id: str | None = Field(None, description="For 'get' and 'cancel'.")
    state: TaskState | None = Field(None, description="For 'list': only tasks in this state.")
    project: str | None = Field(None, description="For 'list': only this project's tasks.")
    limit: int = Field(50, ge=1, le=500, description="For 'list': at most this many, newest first.")


class TasksOutput(BaseModel):
    action: str
    tasks: list[TaskOut]


class StatusInput(StrictModel):
    id: str = Field(description="A task id (tk_…) or a task group id (tg_…).")


class TaskStatusOutput(BaseModel):
    task: TaskOut | None = None
    group: TaskGroupOut | None = None


class ManageProjectsInput(StrictModel):
    action: Literal["list", "details", "metrics", "tasks", "create", "update", "delete"]
    name: str | None = Field(None, description="The project; for every action but 'list'.")
    description: str | None = Field(None, max_length=2000, description="For 'create' and 'update'.")
    limit: int = Field(50, ge=1, le=500, description="For 'tasks': at most this many, newest first.")


class ProjectsOutput(BaseModel):
    action: str
    projects: list[ProjectOut] = Field(default_factory=list)
    metrics: ProjectMetricsOut | None = None
    tasks: list[TaskOut] = Field(default_factory=list)
    message: str = ""


class AggregateInput(StrictModel):
    group_id: str


def task_tools(
    registry: Registry, dispatcher: TaskDispatcher, groups: TaskGroups, projects: Projects
) -> dict[str, ManagementTool]:
    async def manage_agents(request: ManageAgentsInput) -> AgentsOutput:
        agents = dispatcher.agents
        if request.action == "list":
            return AgentsOutput(action="list", agents=[AgentOut.of(view) for view in agents.views()])
        name = _needed(request.agent, "agent", request.action).rpartition("/")[2]
        if request.action == "details":
            return AgentsOutput(action="details", agents=[AgentOut.of(agents.view(name))])
        if request.action == "remove":
            await registry.remove(name)
            return AgentsOutput(action="remove", agents=[], message=f"agent {name} and its server removed")
        spec = _needed(request.spec, "spec", request.action)
        if request.action == "register" and request.config is not None:
            await registry.register(ServerSpec.from_client_entry(name, {**request.config, "agent": spec}))
        else:
            stored = await registry.get(name)
            await registry.update(stored.spec.model_copy(update={"agent": spec}))
        return AgentsOutput(action=request.action, agents=[AgentOut.of(agents.view(name))])

    async def manage_tasks(request: ManageTasksInput) -> TasksOutput:
        if request.action == "create":
            task = await dispatcher.submit(_needed(request.task, "task", "create"), actor=ACTOR)
            return TasksOutput(action="create", tasks=[TaskOut.of(task)])
        if request.action == "list":
            tasks = await dispatcher.store.page(
                state=request.state, project=request.project, limit=request.limit
            )
            return TasksOutput(action="list", tasks=[TaskOut.of(task) for task in tasks])
        task_id = _needed(request.task_id, "task_id", request.action)
        if request.action == "cancel":
            return TasksOutput(
                action="cancel", tasks=[TaskOut.of(await dispatcher.cancel(task_id, actor=ACTOR))]
            )
        return TasksOutput(action="get", tasks=[TaskOut.of(await dispatcher.get(task_id))])

    async def distribute(request: DistributeRequest) -> TaskGroupOut:
        group = await groups.distribute(request, actor=ACTOR)
        return await group_out(groups, group.id)

    async def status(request: StatusInput) -> TaskStatusOutput:
        if request.id.startswith("tg_"):
            return TaskStatusOutput(group=await group_out(groups, request.id))
        return TaskStatusOutput(task=TaskOut.of(await dispatcher.get(request.id)))

    async def manage_projects(request: ManageProjectsInput) -> ProjectsOutput:
        action = request.action
        if action == "list":
            return ProjectsOutput(
                action=action, projects=[ProjectOut.of(item) for item in await projects.list()]
            )
        name = _needed(request.name, "name", action)
        if action == "create":
            created = await projects.create(name, request.description or "")
            return ProjectsOutput(action=action, projects=[ProjectOut.of(created)])
        if action == "update":
            changed = await projects.update(name, _needed(request.description, "description", action))
            return ProjectsOutput(action=action, projects=[ProjectOut.of(changed)])
        if action == "delete":
            await projects.delete(name)
            return ProjectsOutput(action=action, message=f"project {name} deleted")
        if action == "metrics":
            return ProjectsOutput(action=action, metrics=ProjectMetricsOut.of(await projects.metrics(name)))
        if action == "tasks":
            await projects.get(name)
            tasks = await dispatcher.store.page(project=name, limit=request.limit)
            return ProjectsOutput(action=action, tasks=[TaskOut.of(task) for task in tasks])
        return ProjectsOutput(action=action, projects=[ProjectOut.of(await projects.get(name))])

    async def aggregate(request: AggregateInput) -> TaskGroupOut:
        return await group_out(groups, request.group_id)

    return {
        tool.tool.name: tool
        for tool in (
            define_tool(
                "manage_agents",
                "List agents (servers with an agent section) with their live load, or register, update or "
                "remove one.",
                ManageAgentsInput,
                AgentsOutput,
                manage_agents,
                least_role=Role.ADMIN,
                action_roles=AGENT_ROLES,
            ),
            define_tool(
                "manage_tasks",
                "Create a task (a tool or a capability, routed to the best agent); get, list or cancel "
                "tasks.",
                ManageTasksInput,
                TasksOutput,
                manage_tasks,
                action_roles=TASK_ROLES,
            ),
            define_tool(
                "distribute_task",
                "Run one task over several agents or nodes: parallel, race, any or sequential.",
                DistributeRequest,
                TaskGroupOut,
                distribute,
            ),
            define_tool(
                "get_task_status",
                "A task with its attempts, or a task group with every target's outcome.",
                StatusInput,
                TaskStatusOutput,
                status,
                least_role=Role.VIEWER,
            ),
            define_tool(
                "manage_projects",
                "Projects group servers, agents, workflows and tasks: list, details, metrics, tasks; "
                "create, update, delete (admin).",
                ManageProjectsInput,
                ProjectsOutput,
                manage_projects,
                least_role=Role.ADMIN,
                action_roles=PROJECT_ROLES,
            ),
            define_tool(
                "aggregate_task_results",
                "A task group's results per target, counts by state, the winner, merged structured content.",
                AggregateInput,
                TaskGroupOut,
                aggregate,
                least_role=Role.VIEWER,
            ),
        )
    }


def _needed(value: Any, field: str, action: str) -> Any:
    """Raises: InvalidInput when an action's argument is missing."""
    if value is None:
        raise InvalidInput(f"'{action}' needs '{field}'")
    return value
