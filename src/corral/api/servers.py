"""REST routes for servers: list, inspect, logs, register, update, enable, disable, restart, remove."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, ValidationError

from corral import strict
from corral.api.audit_trail import describe
from corral.api.authz import needs
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, page_of
from corral.api.problems import documented
from corral.auth.principal import Role
from corral.errors import InvalidInput
from corral.registry.models import ServerSpec, Transport
from corral.strict import StrictModel
from corral.supervisor.state import ServerStatus

router = APIRouter(prefix="/api/v1/servers", tags=["servers"])
Ctx = Annotated[ApiContext, Depends(context)]
SERVERS = by_text("servers")


class HealthCheckOut(BaseModel):
    ok: bool
    reason: str
    message: str
    at: datetime
    latency_ms: float | None


class ServerOut(BaseModel):
    name: str
    transport: str
    enabled: bool
    source: str = Field(
        description="'config' (from the config file), 'api' (registered at run time) or 'node' (run by "
        "another node, from its config file)."
    )
    node: str | None = Field(None, description="The node that runs it, when it is not the hub's own.")
    status: str = Field(
        description="starting, healthy, degraded, disconnected, circuit_open, disabled, unknown."
    )
    detail: str
    circuit_state: str
    consecutive_failures: int
    restarts: int
    pid: int | None
    last_error: str | None
    latency_ms: float | None
    uptime_s: float | None
    total_downtime_s: float
    last_recovery_at: datetime | None
    last_check: HealthCheckOut | None
    recent_checks: list[HealthCheckOut] = Field(description="The latest health checks, oldest first.")
    calls_in_flight: int
    tools: list[dict[str, Any]]
    tags: list[str]
    spec: dict[str, Any] = Field(description="The server's spec; env values and headers are hidden.")


class ServerList(Page[ServerOut]):
    """Servers sorted by name."""


class LogLineOut(BaseModel):
    time: datetime
    text: str


class ServerLogs(BaseModel):
    name: str
    lines: list[LogLineOut]


class ServerIn(StrictModel):
    """A server entry in the shape MCP clients write (``command``/``args``/``env`` or ``url``/``headers``)."""

    name: str
    config: dict[str, Any] = Field(
        description="The mcpServers entry, e.g. {'command': 'uvx', 'args': [...]}."
    )


async def _view(ctx: ApiContext, name: str) -> ServerOut:
    return ServerOut.model_validate(await ctx.registry.describe(name))


def _parse(name: str, entry: dict[str, Any]) -> ServerSpec:
    try:
        return ServerSpec.from_client_entry(name, entry)
    except ValidationError as exc:
        raise strict.invalid_input(exc, within=("config",)) from exc
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@router.get("", summary="List servers with their live state, sorted by name", dependencies=needs(Role.VIEWER))
async def list_servers(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    status: Annotated[ServerStatus | None, Query(description="Only servers in this status.")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or disabled servers.")] = None,
    transport: Annotated[Transport | None, Query(description="Only servers of this transport.")] = None,
) -> ServerList:
    views = [
        view
        for view in await ctx.registry.views()
        if (status is None or view["status"] == status)
        and (enabled is None or view["enabled"] is enabled)
        and (transport is None or view["transport"] == transport)
    ]
    page, next_cursor = page_of(views, lambda view: str(view["name"]), limit, SERVERS, cursor)
    return ServerList(items=[ServerOut.model_validate(view) for view in page], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    summary="Register a server at run time",
    dependencies=needs(Role.ADMIN),
    responses=documented(409),
)
async def register_server(body: ServerIn, ctx: Ctx, request: Request) -> ServerOut:
    describe(request, target=f"servers/{body.name}")
    spec = _parse(body.name, body.config)
    await ctx.registry.register(spec)
    return await _view(ctx, spec.name)


@router.get("/{name}", summary="One server's live state", dependencies=needs(Role.VIEWER))
async def get_server(name: str, ctx: Ctx) -> ServerOut:
    return await _view(ctx, name)


@router.put("/{name}", summary="Replace a server's spec", dependencies=needs(Role.ADMIN))
async def update_server(name: str, config: dict[str, Any], ctx: Ctx) -> ServerOut:
    await ctx.registry.update(_parse(name, config))
    return await _view(ctx, name)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Stop supervising a server and forget it",
    dependencies=needs(Role.ADMIN),
)
async def delete_server(name: str, ctx: Ctx) -> None:
    await ctx.registry.remove(name)


@router.get("/{name}/logs", summary="The tail of a stdio server's stderr", dependencies=needs(Role.VIEWER))
async def server_logs(
    name: str,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most recent lines to return.")] = 200,
) -> ServerLogs:
    await ctx.registry.describe(name)
    lines = ctx.supervisor.runner(name).logs.tail(limit)
    return ServerLogs(name=name, lines=[LogLineOut(time=line.time, text=line.text) for line in lines])


@router.post(
    "/{name}/restart",
    status_code=202,
    summary="Restart a server now (also resets its circuit)",
    dependencies=needs(Role.OPERATOR),
)
async def restart_server(name: str, ctx: Ctx) -> ServerOut:
    await ctx.registry.describe(name)
    ctx.supervisor.runner(name).request_restart()
    return await _view(ctx, name)


@router.post(
    "/{name}/reload",
    summary="Fetch the server's tools, resources and prompts again",
    dependencies=needs(Role.OPERATOR),
)
async def reload_server(name: str, ctx: Ctx) -> ServerOut:
    await ctx.registry.describe(name)
    ctx.supervisor.runner(name).request_reload()
    return await _view(ctx, name)


@router.post(
    "/{name}/enable",
    summary="Enable a server; it starts unless it is lazy",
    dependencies=needs(Role.OPERATOR),
)
async def enable_server(name: str, ctx: Ctx) -> ServerOut:
    await ctx.registry.set_enabled(name, True)
    return await _view(ctx, name)


@router.post(
    "/{name}/disable", summary="Disable a server; its process stops", dependencies=needs(Role.OPERATOR)
)
async def disable_server(name: str, ctx: Ctx) -> ServerOut:
    await ctx.registry.set_enabled(name, False)
    return await _view(ctx, name)
