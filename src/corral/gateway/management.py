"""Corral's own MCP tools: manage the fleet from any MCP client.

Each tool has an input schema and an output schema, and answers with
structured content (plus the same JSON as text for clients that ignore it).
Failures are tool errors with a message a person (or a model) can act on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import mcp_types as types
from pydantic import BaseModel, Field, ValidationError

from corral import strict
from corral.auth.principal import Role
from corral.calls.metrics import CallMetrics
from corral.clock import Clock
from corral.errors import CorralError, InvalidInput
from corral.registry.models import ServerSpec
from corral.registry.registry import Registry
from corral.strict import StrictModel
from corral.supervisor.state import ServerStatus
from corral.supervisor.supervisor import Supervisor

ServerAction = Literal[
    "list", "details", "register", "update", "enable", "disable", "restart", "reload_tools", "remove"
]
# Reading needs a viewer, changing the fleet's make-up an admin, the rest (restart, ...) an operator.
SERVER_ACTION_ROLES = {
    "list": Role.VIEWER,
    "details": Role.VIEWER,
    "register": Role.ADMIN,
    "update": Role.ADMIN,
    "remove": Role.ADMIN,
}


class ManageServersInput(StrictModel):
    action: ServerAction = Field(description="What to do.")
    name: str | None = Field(None, description="The server; required for every action but 'list'.")
    config: dict[str, Any] | None = Field(
        None,
        description="For 'register' and 'update': an mcpServers entry, e.g. {'command': 'uvx'}.",
    )


class ManageServersOutput(BaseModel):
    action: str
    servers: list[dict[str, Any]] = Field(
        description="The servers the action concerns, with their live state."
    )
    message: str


class SystemHealthInput(StrictModel):
    pass


class SystemHealthOutput(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="ok: every enabled server serves; degraded: some do not; down: none does."
    )
    servers: dict[str, int] = Field(description="How many servers are in each status.")
    unhealthy: list[dict[str, Any]] = Field(description="Servers not serving, with the reason.")
    calls: list[dict[str, Any]] = Field(description="Tool calls through the gateway per server and tool.")


@dataclass(frozen=True)
class ManagementTool:
    tool: types.Tool
    handler: Callable[[Any], Awaitable[BaseModel]]
    input_model: type[BaseModel]
    # The least role that may call it; a tool with an ``action`` argument may set one per action.
    least_role: Role = Role.OPERATOR
    action_roles: Mapping[str, Role] = field(default_factory=dict)

    def required_role(self, arguments: dict[str, Any]) -> Role:
        action = arguments.get("action")
        return self.action_roles.get(action, self.least_role) if isinstance(action, str) else self.least_role


def define_tool(
    name: str,
    description: str,
    input_model: type[BaseModel],
    output_model: type[BaseModel],
    handler: Callable[[Any], Awaitable[BaseModel]],
    *,
    least_role: Role = Role.OPERATOR,
    action_roles: Mapping[str, Role] | None = None,
) -> ManagementTool:
    """One of Corral's own tools, its schemas taken from the pydantic models.

    ``least_role``: who may call it (operators by default: most tools change something);
    ``action_roles``: per value of its ``action`` argument, where that differs.
    """
    tool = types.Tool(
        name=name,
        description=description,
        input_schema=input_model.model_json_schema(),
        output_schema=output_model.model_json_schema(),
    )
    return ManagementTool(tool, handler, input_model, least_role, dict(action_roles or {}))


class Management:
    def __init__(
        self, registry: Registry, supervisor: Supervisor, metrics: CallMetrics, clock: Clock
    ) -> None:
        self._registry = registry
        self._supervisor = supervisor
        self._metrics = metrics
        self._clock = clock
        self.tools: dict[str, ManagementTool] = {
            "manage_servers": define_tool(
                "manage_servers",
                "List, inspect, register, update, enable, disable, restart, reload or remove the MCP servers "
                "Corral supervises.",
                ManageServersInput,
                ManageServersOutput,
                self._manage_servers,
                action_roles=SERVER_ACTION_ROLES,
            ),
            "get_system_health": define_tool(
                "get_system_health",
                "The health of the fleet: servers by status, which are down and why, and call statistics.",
                SystemHealthInput,
                SystemHealthOutput,
                self._system_health,
                least_role=Role.VIEWER,
            ),
        }

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        entry = self.tools[name]
        try:
            parsed = entry.input_model.model_validate(arguments)
            output = await entry.handler(parsed)
        except ValidationError as exc:
            return _error(str(strict.invalid_input(exc, what=f"invalid arguments for {name}")))
        except CorralError as exc:
            return _error(exc.message)
        body = output.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(body))], structured_content=body
        )

    async def _manage_servers(self, request: ManageServersInput) -> ManageServersOutput:
        action, name = request.action, request.name
        if action == "list":
            servers = await self._registry.views()
            return ManageServersOutput(action=action, servers=servers, message=f"{len(servers)} servers")
        if not name:
            raise InvalidInput(f"'{action}' needs the server's 'name'")
        if action in ("register", "update"):
            if request.config is None:
                raise InvalidInput(f"'{action}' needs 'config', an mcpServers entry")
            try:
                spec = ServerSpec.from_client_entry(name, request.config)
            except ValueError as exc:
                raise InvalidInput(f"config: {exc}") from exc
            await (self._registry.register(spec) if action == "register" else self._registry.update(spec))
        elif action in ("enable", "disable"):
            await self._registry.set_enabled(name, action == "enable")
        elif action == "restart":
            await self._registry.get(name)
            self._supervisor.runner(name).request_restart()
        elif action == "reload_tools":
            await self._registry.get(name)
            self._supervisor.runner(name).request_reload()
        elif action == "remove":
            await self._registry.remove(name)
            return ManageServersOutput(action=action, servers=[], message=f"{name} removed")
        view = await self._registry.describe(name)
        return ManageServersOutput(
            action=action, servers=[view], message=f"{name}: {action} done; {view['status']}"
        )

    async def _system_health(self, _: SystemHealthInput) -> SystemHealthOutput:
        runners = [runner for runner in self._supervisor.runners() if runner.spec.enabled]
        counts: dict[str, int] = {status.value: 0 for status in ServerStatus}
        unhealthy = []
        for runner in self._supervisor.runners():
            counts[runner.state.status.value] += 1
            if runner.spec.enabled and not runner.state.status.serving and not runner.idle:
                unhealthy.append(
                    {
                        "name": runner.spec.name,
                        "status": runner.state.status.value,
                        "detail": runner.state.detail,
                        "last_error": runner.state.last_error,
                    }
                )
        serving = len(runners) - len(unhealthy)
        status: Literal["ok", "degraded", "down"] = (
            "ok" if not unhealthy else "down" if runners and serving == 0 else "degraded"
        )
        return SystemHealthOutput(
            status=status, servers=counts, unhealthy=unhealthy, calls=self._metrics.snapshot()
        )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)
