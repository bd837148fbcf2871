"""``corral workflows …`` and ``corral run FILE``: define, start, follow and steer workflows.

``corral run FILE --follow`` stores the definition in FILE (a new version when
it changed), starts it, and shows each step's progress live until the
execution ends; it exits 0 when it completed and 1 when it failed or was
cancelled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import HubClient
from corral.cli.options import DEFAULT_HUB, DataDirOpt, HubOpt, JsonOpt, TokenOpt, hub_client
from corral.config.file import read_document
from corral.errors import InvalidInput

workflows_app = typer.Typer(
    help="Define, run and steer durable workflows on a running hub.", no_args_is_help=True
)

FOLLOW_POLL_S = 0.25
FINISHED = ("completed", "failed", "cancelled")
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter as key=value (JSON values are parsed: n=3, on=true)."),
]


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """Raises: InvalidInput for a pair without '='."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, separator, raw = pair.partition("=")
        if not separator or not key:
            raise InvalidInput(f"--param {pair!r}: write key=value")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def run_command(
    file: Annotated[Path, typer.Argument(help="A workflow definition (YAML or JSON).")],
    param: ParamOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show progress live until it ends.")] = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Store the workflow in FILE, start it, and (with --follow) watch it run."""
    client = hub_client(hub, token, data_dir)
    stored = client.post("/api/v1/workflows", read_document(file))
    for warning in stored.get("warnings", []):
        output.line(f"warning: {warning}")
    workflow_id = stored["workflow_id"]
    started = client.post(f"/api/v1/workflows/{workflow_id}/execute", {"parameters": parse_params(param)})
    execution_id = started["execution_id"]
    output.line(f"{workflow_id} v{stored['version']}: execution {execution_id}")
    if follow:
        status = follow_execution(client, execution_id)
        raise typer.Exit(0 if status == "completed" else 1)


def follow_execution(client: HubClient, execution_id: str) -> str:
    """Show the execution's steps live until it ends; returns its final status."""
    seen = 0
    with output.execution_view() as view:
        while True:
            events = client.get(f"/api/v1/executions/{execution_id}/events", after=seen)["items"]
            seen = events[-1]["seq"] if events else seen
            state = client.get(f"/api/v1/executions/{execution_id}")
            view.update(state, events)
            if state["status"] in FINISHED:
                break
            time.sleep(FOLLOW_POLL_S)
    output.execution_summary(state)
    return str(state["status"])


@workflows_app.command("list")
def list_workflows(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Workflows with their latest version and execution."""
    body = hub_client(hub, token, data_dir).every("/api/v1/workflows")
    output.json_or(json_out, body, lambda: output.workflows_table(body["items"]))


@workflows_app.command("show")
def show_workflow(
    workflow_id: str,
    version: Annotated[int | None, typer.Option(help="A version; the latest when omitted.")] = None,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """A workflow's definition, as JSON."""
    params = {"version": version} if version else {}
    output.json_or(
        True, hub_client(hub, token, data_dir).get(f"/api/v1/workflows/{workflow_id}", **params), _none
    )


@workflows_app.command("create")
def create_workflow(
    file: Annotated[Path, typer.Argument(help="A workflow definition (YAML or JSON).")],
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Store a workflow (a new version when it exists)."""
    stored = hub_client(hub, token, data_dir).post("/api/v1/workflows", read_document(file))
    for warning in stored.get("warnings", []):
        output.line(f"warning: {warning}")
    output.line(f"{stored['workflow_id']}: version {stored['version']} stored")


@workflows_app.command("start")
def start_workflow(
    workflow_id: str,
    param: ParamOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show progress live until it ends.")] = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Start an execution of a stored workflow."""
    client = hub_client(hub, token, data_dir)
    started = client.post(f"/api/v1/workflows/{workflow_id}/execute", {"parameters": parse_params(param)})
    output.line(f"execution {started['execution_id']}")
    if follow:
        raise typer.Exit(0 if follow_execution(client, started["execution_id"]) == "completed" else 1)


@workflows_app.command("status")
def execution_status(
    execution_id: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """An execution's status and steps."""
    body = hub_client(hub, token, data_dir).get(f"/api/v1/executions/{execution_id}")
    output.json_or(json_out, body, lambda: output.execution_summary(body))


def _control(verb: str) -> None:
    def command(
        execution_id: str, hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None
    ) -> None:
        body = hub_client(hub, token, data_dir).post(f"/api/v1/executions/{execution_id}/{verb}")
        output.line(f"{execution_id}: {verb} requested; status {body['status']}")

    command.__doc__ = f"{verb.capitalize()} an execution."
    workflows_app.command(verb)(command)


for _verb in ("cancel", "pause", "resume"):
    _control(_verb)


def _none() -> None:
    return None
