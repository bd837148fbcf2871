"""One MCP face of the hub: the whole fleet under namespaced names, or one upstream under its own.

The endpoint is a low-level SDK ``Server`` whose handlers route every request
to the upstream that owns the name or URI, through that server's runner
(breaker, concurrency cap, deadline). It keeps the downstream connections it
has seen, so that when the fleet's tools, prompts or resources change every
client hears ``notifications/*/list_changed``, and resource updates reach the
clients that subscribed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from pydantic import BaseModel

from corral import __version__
from corral.auth.principal import Principal, Role
from corral.calls.path import Caller, CallPath
from corral.errors import CorralError, Forbidden, NotFound, UnknownTool
from corral.events.bus import EventBus
from corral.gateway.catalog import GatewayCatalog, Route, build_catalog
from corral.gateway.errors import to_mcp_error
from corral.gateway.management import Management
from corral.gateway.names import SEPARATOR
from corral.gateway.peer import DownstreamPeer
from corral.observability import logcontext
from corral.registry.models import RESERVED_NAME
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

PAGE_SIZE = 200
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT", bound=BaseModel)
Ctx = ServerRequestContext[Any, Any]
CATALOG_EVENTS = (
    "server.status",
    "server.tools_changed",
    "server.prompts_changed",
    "server.resources_changed",
    "server.removed",
)
_CHANGE_NOTIFICATIONS: dict[str, tuple[types.ServerNotification, Any]] = {
    "tools": (types.ToolListChangedNotification(), ToolsListChanged()),
    "prompts": (types.PromptListChangedNotification(), PromptsListChanged()),
    "resources": (types.ResourceListChangedNotification(), ResourcesListChanged()),
}


class _HubServer(Server[Any]):
    """Advertises ``listChanged`` to handshake-era clients: the HTTP session manager asks without options."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        everything = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        return super().create_initialization_options(
            notification_options or everything, experimental_capabilities, extensions
        )


@dataclass(frozen=True)
class ExposedTool:
    """A tool as the endpoint offers it (``tool.name`` is the exposed name) and where calls to it go."""

    route: Route
    tool: types.Tool


class Endpoint:
    def __init__(
        self,
        supervisor: Supervisor,
        bus: EventBus,
        path: CallPath,
        *,
        only_server: str | None = None,
        management: Management | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._bus = bus
        self._path = path
        self._only = only_server
        self._management = management
        self._catalog = GatewayCatalog()
        self._digests: dict[str, str] = {}
        self._stale = True
        self._connections: dict[int, Connection] = {}
        self._subscriptions: dict[str, set[int]] = {}
        self._listen_bus = InMemorySubscriptionBus()
        self.server = self._build_server(only_server or "corral")

    # -- the SDK server ------------------------------------------------------------------------

    def _build_server(self, name: str) -> _HubServer:
        server = _HubServer(
            name,
            version=__version__,
            instructions=None
            if self._only
            else "Corral: every tool of every healthy MCP server in the fleet, "
            "named <server>__<tool>, plus Corral's own management tools.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_completion=self._complete,
            on_subscriptions_listen=ListenHandler(self._listen_bus),
        )
        server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        server.add_notification_handler(
            "notifications/initialized", types.NotificationParams, self._initialized
        )
        return server

    def catalog(self) -> GatewayCatalog:
        if self._stale:
            self._catalog = build_catalog(self._runners(), namespaced=self._only is None)
            self._stale = False
        return self._catalog

    def _runners(self) -> list[ServerRunner]:
        if self._only is None:
            return self._supervisor.runners()
        try:
            return [self._supervisor.runner(self._only)]
        except NotFound:
            return []

    # -- keeping clients informed ------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the fleet's events; tell connected clients what changed."""
        async with self._bus.subscribe() as events:
            self._digests = self.catalog().digests()
            task_status.started()
            async for event in events:
                if self._only is not None and event.subject != self._only:
                    continue
                if event.type == "server.resource_updated":
                    await self._resource_updated(event.data["uri"])
                elif event.type in CATALOG_EVENTS:
                    self._stale = True
                    await self._announce_changes()

    async def _announce_changes(self) -> None:
        digests = self.catalog().digests()
        changed = [kind for kind, value in digests.items() if self._digests.get(kind) != value]
        self._digests = digests
        for kind in changed:
            legacy, modern = _CHANGE_NOTIFICATIONS[kind]
            await self._listen_bus.publish(modern)
            for connection in list(self._connections.values()):
                await _notify(connection, legacy)

    async def _resource_updated(self, uri: str) -> None:
        await self._listen_bus.publish(ResourceUpdated(uri=uri))
        notification = types.ResourceUpdatedNotification(
            params=types.ResourceUpdatedNotificationParams(uri=uri)
        )
        for key in self._subscriptions.get(uri, set()):
            if key in self._connections:
                await _notify(self._connections[key], notification)

    async def _initialized(self, ctx: Ctx, _: types.NotificationParams) -> None:
        connection = _connection(ctx)
        key = id(connection)
        self._connections[key] = connection
        connection.exit_stack.callback(self._forget_connection, key)

    def _forget_connection(self, key: int) -> None:
        self._connections.pop(key, None)
        for subscribers in self._subscriptions.values():
            subscribers.discard(key)

    # -- tools -----------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = list(self.catalog().tools)
        if self._management is not None:
            tools.extend(entry.tool for entry in self._management.tools.values())
        page, cursor = _page(tools, params)
        return types.ListToolsResult(tools=page, next_cursor=cursor)

    def exposed_tools(self) -> list[ExposedTool]:
        """What ``tools/list`` shows, each tool with the server it comes from and its name there."""
        catalog = self.catalog()
        tools = [ExposedTool(catalog.tool_routes[tool.name], tool) for tool in catalog.tools]
        if self._management is not None:
            own = self._management.tools.items()
            tools.extend(ExposedTool(Route(RESERVED_NAME, name), entry.tool) for name, entry in own)
        return tools

    def exposed_tool(self, name: str) -> ExposedTool:
        """A tool by its exposed name; also one of a server that is down now (its calls say so).

        Raises: UnknownTool.
        """
        if self._management is not None and name in self._management.tools:
            return ExposedTool(Route(RESERVED_NAME, name), self._management.tools[name].tool)
        catalog = self.catalog()
        if name not in catalog.tool_routes:
            raise UnknownTool(f"Unknown tool: {name}")
        return ExposedTool(catalog.tool_routes[name], catalog.tool_definitions[name])

    async def _call_tool(self, ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        peer = DownstreamPeer(ctx)
        actor, source = _caller(ctx)
        caller = Caller(
            actor,
            source,
            _principal(ctx),
            peer=peer,
            progress=peer.progress if peer.wants_progress else None,
            meta=_forwarded_meta(params),
            session_for=lambda runner: _session_key(ctx, runner),
        )
        try:
            return await self.call_tool(params.name, params.arguments or {}, caller)
        except (Forbidden, UnknownTool) as exc:
            raise to_mcp_error(exc) from exc
        except CorralError as exc:  # bad arguments and an unavailable server: a tool error a model can act on
            return _tool_error(exc.message)

    async def call_tool(self, name: str, arguments: dict[str, Any], caller: Caller) -> types.CallToolResult:
        """A tool call by the name this endpoint exposes, from MCP ``tools/call`` and REST alike: Corral's
        own tools here, any other on the hub's one call path (``CallPath.call``).

        A tool that fails on its own answers with ``isError`` set; that is a result, not an exception.

        Raises:
            Forbidden: the caller's role may not call this tool.
            UnknownTool: no tool has that name.
            InvalidArguments: the arguments do not fit the tool's ``inputSchema``.
            Unavailable, CircuitOpen, UpstreamError, UpstreamTimeout: as the server's runner raises them.
        """
        if self._management is not None and name in self._management.tools:
            return await self._call_own(name, arguments, caller)
        route = self.catalog().tool_routes.get(name)
        if route is None:  # perhaps a tool added a moment ago: the path asks its server again
            server, tool = (self._only, name) if self._only else _guess_route(name)
            route = Route(server, tool)
        return await self._path.call(route.server, route.name, arguments, caller, label=name)

    async def _call_own(self, name: str, arguments: dict[str, Any], caller: Caller) -> types.CallToolResult:
        """One of Corral's management tools: the role its action needs, then the tool; counted and audited
        on the call path's books.

        Raises: Forbidden.
        """
        assert self._management is not None
        started = time.perf_counter()
        entry = self._management.tools[name]
        try:
            self._path.authorize(caller, entry.required_role(arguments), name)
        except Forbidden as exc:
            self._path.account(caller, RESERVED_NAME, name, exc.code, time.perf_counter() - started)
            raise
        with logcontext.bound(tool=name):
            result = await self._management.call(name, arguments)
        outcome = "tool_error" if result.is_error else "ok"
        seconds = time.perf_counter() - started
        self._path.account(caller, RESERVED_NAME, name, outcome, seconds, arguments=arguments)
        return result

    # -- prompts -----------------------------------------------------------------------------

    async def _list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        page, cursor = _page(self.catalog().prompts, params)
        return types.ListPromptsResult(prompts=page, next_cursor=cursor)

    async def _get_prompt(self, ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        route = self.catalog().prompt_routes.get(params.name)
        if route is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
        request = types.GetPromptRequest(params=params.model_copy(update={"name": route.name}))
        return await self._relay(route.server, request, types.GetPromptResult, params.name, ctx)

    # -- resources ---------------------------------------------------------------------------

    async def _list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        page, cursor = _page(self.catalog().resources, params)
        return types.ListResourcesResult(resources=page, next_cursor=cursor)

    async def _list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        page, cursor = _page(self.catalog().resource_templates, params)
        return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=cursor)

    async def _read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        server = self._server_for(str(params.uri))
        return await self._relay(
            server, types.ReadResourceRequest(params=params), types.ReadResourceResult, str(params.uri), ctx
        )

    async def _subscribe(self, ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        await self._relay(
            self._server_for(uri), types.SubscribeRequest(params=params), types.EmptyResult, uri, ctx
        )
        self._subscriptions.setdefault(uri, set()).add(id(_connection(ctx)))
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        self._subscriptions.get(uri, set()).discard(id(_connection(ctx)))
        await self._relay(
            self._server_for(uri), types.UnsubscribeRequest(params=params), types.EmptyResult, uri, ctx
        )
        return types.EmptyResult()

    def _server_for(self, uri: str) -> str:
        server = self.catalog().server_for_uri(uri)
        if server is None:
            raise MCPError(code=-32002, message=f"Resource not found: {uri}")
        return server

    # -- completion and logging ----------------------------------------------------------------------

    async def _complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            route = self.catalog().prompt_routes.get(ref.name)
            if route is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {ref.name}")
            server = route.server
            params = params.model_copy(update={"ref": ref.model_copy(update={"name": route.name})})
        else:
            server = self._server_for(ref.uri)
        return await self._relay(
            server, types.CompleteRequest(params=params), types.CompleteResult, "completion", ctx
        )

    async def _set_level(self, ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        """Answer for the hub and pass the level on to every serving upstream that logs."""
        for runner in self._runners():
            if runner.state.status.serving and runner.supports_logging:
                try:
                    await runner.request(
                        types.SetLevelRequest(params=params), types.EmptyResult, label="setLevel"
                    )
                except CorralError as exc:
                    logger.info("could not pass the log level on to %s: %s", runner.spec.name, exc.message)
        return types.EmptyResult()

    async def _relay(
        self, server: str, request: Any, result_type: type[ResultT], label: str, ctx: Ctx
    ) -> ResultT:
        try:
            runner = self._supervisor.runner(server)
            with logcontext.bound(server=server):
                result: ResultT = await runner.request(
                    request,
                    result_type,
                    label=label,
                    peer=DownstreamPeer(ctx),
                    session_key=_session_key(ctx, runner),
                )
        except CorralError as exc:
            raise to_mcp_error(exc) from exc
        return result


def _page(items: list[ItemT], params: types.PaginatedRequestParams | None) -> tuple[list[ItemT], str | None]:
    """One page of a merged list; the cursor is the offset of the next page."""
    cursor = params.cursor if params else None
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise MCPError(code=types.INVALID_PARAMS, message=f"invalid cursor {cursor!r}") from None
    if start < 0 or start > len(items):
        raise MCPError(code=types.INVALID_PARAMS, message=f"invalid cursor {cursor!r}")
    end = start + PAGE_SIZE
    return items[start:end], (str(end) if end < len(items) else None)


def _forwarded_meta(params: types.CallToolRequestParams) -> dict[str, Any] | None:
    """The caller's ``_meta`` minus its progress token (the hub uses its own towards the upstream)."""
    if not params.meta:
        return None
    meta = {
        key: value
        for key, value in dict(params.meta).items()
        if key not in ("progress_token", "progressToken")
    }
    return meta or None


def _guess_route(name: str) -> tuple[str, str]:
    """The server and tool an exposed name not (yet) in the catalog would stand for: ``server__tool``."""
    server, _, tool = name.partition(SEPARATOR)
    return server, tool or name


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _connection(ctx: Ctx) -> Connection:
    # The SDK keeps the connection private on the per-request session; the connection itself
    # (with its exit stack for clean-up) is public. Pinned SDK minor: see pyproject.toml.
    connection: Connection = ctx.session._connection
    return connection


def _session_key(ctx: Ctx, runner: ServerRunner) -> object:
    """The downstream connection, for servers that get one upstream session per client.

    The first time a connection uses such a server, the connection's clean-up is told to close
    that upstream session when the client goes away.
    """
    if runner.spec.session != "per_client":
        return None
    connection = _connection(ctx)
    key = id(connection)
    released: set[str] = connection.state.setdefault("corral.dedicated", set())
    if runner.spec.name not in released:
        released.add(runner.spec.name)
        connection.exit_stack.callback(runner.release_session, key)
    return key


def _principal(ctx: Ctx) -> Principal | None:
    """Who sent this request over HTTP (an HTTP request the auth middleware let by without one
    counts as an anonymous viewer); None on stdio."""
    request = ctx.request
    if request is None:
        return None
    state = getattr(request, "state", None)
    principal: Principal | None = getattr(state, "principal", None) if state is not None else None
    return principal or Principal("anonymous", Role.VIEWER)


def _caller(ctx: Ctx) -> tuple[str, str]:
    request = ctx.request
    if request is None:
        return "stdio", "stdio"
    state = getattr(request, "state", None)
    principal: Principal | None = getattr(state, "principal", None) if state is not None else None
    client = getattr(request, "client", None)
    source = f"{client.host}" if client is not None else ""
    return (principal.name if principal else "anonymous"), source


async def _notify(connection: Connection, notification: types.ServerNotification) -> None:
    # The SDK drops notifications to a closed connection; a stuck one must not hold up the others.
    data = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
    with anyio.move_on_after(5):
        await connection.outbound.notify(data["method"], data.get("params"))
