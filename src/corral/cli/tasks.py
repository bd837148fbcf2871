"""``corral tasks …``, ``corral agents …`` and ``corral projects …``: submit, follow and steer tasks; see
the agents' load; keep projects.

``corral tasks submit … --follow`` prints what happens to the task as the hub pushes it (the event
stream, not polling) and exits 0 when it completed, 1 when it failed or was cancelled.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import HubClient
from corral.cli.options import DEFAULT_HUB, DataDirOpt, HubOpt, JsonOpt, TokenOpt, hub_client
from corral.cli.workflows import parse_params

tasks_app = typer.Typer(help="Submit tasks to agents, follow them and steer them.", no_args_is_help=True)
projects_app = typer.Typer(
    help="Projects: groups of servers, agents, workflows and tasks.", no_args_is_help=True
)
agents_app = typer.Typer(
    help="Agents (servers with an agent section) and their live load.", no_args_is_help=True
)

FINISHED = ("completed", "failed", "cancelled")
FollowOpt = Annotated[
    bool, typer.Option("--follow", "-f", help="Show what happens to it live until it ends.")
]


@tasks_app.command("submit")
def submit(
    tool: Annotated[str | None, typer.Option(help="'server__tool', or a tool several agents offer.")] = None,
    capability: Annotated[str | None, typer.Option(help="Route to an agent with this capability.")] = None,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", "-a", help="A tool argument as key=value (JSON parsed).")
    ] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first (-100..100).")] = 0,
    machine: Annotated[list[str] | None, typer.Option("--machine", help="Only agents on this node.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's agents.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Deadline of each attempt's call, in seconds.")
    ] = None,
    follow: FollowOpt = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Submit a task: stored, then routed to the best eligible agent."""
    request: dict[str, Any] = {"tool": tool, "capability": capability, "arguments": parse_params(arg)}
    request.update(priority=priority, target_machines=machine or [], project=project, timeout_s=timeout)
    client = hub_client(hub, token, data_dir)
    task = client.post("/api/v1/tasks", {key: value for key, value in request.items() if value is not None})
    output.line(f"task {task['id']} {task['state']}")
    if follow:
        raise typer.Exit(0 if follow_task(client, task["id"]) == "completed" else 1)


@tasks_app.command("list")
def list_tasks(
    state: Annotated[str | None, typer.Option(help="Only tasks in this state.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's tasks.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Tasks, newest first."""
    filters = {key: value for key, value in {"state": state, "project": project}.items() if value}
    body = hub_client(hub, token, data_dir).get("/api/v1/tasks", limit=limit, **filters)
    output.json_or(json_out, body, lambda: output.tasks_table(body["items"]))


@tasks_app.command("show")
def show(
    task_id: str,
    follow: FollowOpt = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A task with its attempts; --follow watches it until it ends."""
    client = hub_client(hub, token, data_dir)
    if follow:
        raise typer.Exit(0 if follow_task(client, task_id) == "completed" else 1)
    body = client.get(f"/api/v1/tasks/{task_id}")
    output.json_or(json_out, body, lambda: output.task_details(body))


@tasks_app.command("cancel")
def cancel(
    task_id: str, hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Cancel a task; a running call is cancelled on its server."""
    body = hub_client(hub, token, data_dir).post(f"/api/v1/tasks/{task_id}/cancel")
    output.line(f"task {task_id} {body['state']}")


@agents_app.command("list")
def list_agents(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Agents with their status, load and counts."""
    body = hub_client(hub, token, data_dir).every("/api/v1/agents")
    output.json_or(json_out, body, lambda: output.agents_table(body["items"]))


@agents_app.command("show")
def show_agent(
    agent_id: Annotated[str, typer.Argument(help="'<node>/<server>' or the server's name.")],
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """One agent, as JSON."""
    output.json_or(True, hub_client(hub, token, data_dir).get(f"/api/v1/agents/{agent_id}"), lambda: None)


def follow_task(client: HubClient, task_id: str) -> str:
    """Print the task's events as the hub pushes them until it ends; returns its final state."""
    for message in client.events(f"tasks:{task_id}"):
        if message.get("type") == "snapshot":
            # Anything that happened before the stream opened is in the task as stored now.
            task = client.get(f"/api/v1/tasks/{task_id}")
            if task["state"] in FINISHED:
                output.task_details(task)
                return str(task["state"])
            continue
        events = message.get("events", [message]) if message.get("type") == "events" else [message]
        for event in events:
            output.line(_describe(event))
            if event.get("type") in ("task.completed", "task.failed", "task.cancelled"):
                task = client.get(f"/api/v1/tasks/{task_id}")
                output.task_details(task)
                return str(task["state"])
    return "failed"


def _describe(event: dict[str, Any]) -> str:
    data = event.get("data", {})
    kind = str(event.get("type", "")).removeprefix("task.")
    if kind == "progress":
        total = f"/{data['total']:g}" if data.get("total") else ""
        return f"  progress {data.get('progress', 0):g}{total} {data.get('message') or ''}".rstrip()
    detail = data.get("agent") or ""
    if data.get("error"):
        detail = f"{detail}: {data['error']}" if detail else data["error"]
    if kind == "completed":
        detail = json.dumps(data.get("result"))[:200]
    return f"{kind} {detail}".rstrip()


@projects_app.command("list")
def list_projects(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Projects with their servers, agents and workflows."""
    body = hub_client(hub, token, data_dir).every("/api/v1/projects")
    output.json_or(json_out, body, lambda: output.projects_table(body["items"]))


@projects_app.command("show")
def show_project(
    name: str, hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None
) -> None:
    """A project and its metrics (calls, errors, p95; tasks and executions by state), as JSON."""
    client = hub_client(hub, token, data_dir)
    body = {
        **client.get(f"/api/v1/projects/{name}"),
        "metrics": client.get(f"/api/v1/projects/{name}/metrics"),
    }
    output.json_or(True, body, lambda: None)


@projects_app.command("create")
def create_project(
    name: str,
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Make a project (admin); servers, workflows and tasks then name it in `project`."""
    body = hub_client(hub, token, data_dir).post(
        "/api/v1/projects", {"name": name, "description": description}
    )
    output.line(f"project {body['name']} created")


@projects_app.command("delete")
def delete_project(
    name: str, hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Delete a project that no server, workflow or task names any more (admin)."""
    hub_client(hub, token, data_dir).delete(f"/api/v1/projects/{name}")
    output.line(f"project {name} deleted")
