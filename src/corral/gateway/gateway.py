"""The gateway: the aggregated endpoint, one endpoint per server, and their Streamable HTTP transports.

``/mcp`` serves the whole fleet; ``/servers/{name}/mcp`` serves one upstream
under its original names. Each endpoint's session manager runs in the
gateway's task group; per-server ones start on their first request and stop
when their server is removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from corral.audit.log import AuditLog
from corral.calls.metrics import CallMetrics
from corral.calls.path import CallPath
from corral.clock import Clock
from corral.errors import NotFound
from corral.events.bus import EventBus
from corral.gateway.endpoint import Endpoint
from corral.gateway.management import Management
from corral.gateway.transport import AdaptiveSessionManager
from corral.registry.registry import Registry
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

FLEET_PATH = "/mcp"

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class HttpOptions:
    """How the MCP endpoints speak HTTP."""

    allowed_hosts: tuple[str, ...]
    stateless: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    session_idle_timeout_s: float = 1800.0
    viewers_may_call_tools: bool = False
    audit_tool_arguments: bool = True

    def security(self) -> TransportSecuritySettings:
        hosts = [_with_port(host) for host in self.allowed_hosts]
        origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


class Gateway:
    def __init__(
        self,
        registry: Registry,
        supervisor: Supervisor,
        bus: EventBus,
        clock: Clock,
        audit: AuditLog,
        options: HttpOptions,
    ) -> None:
        self._supervisor = supervisor
        self._bus = bus
        self._clock = clock
        self._audit = audit
        self._options = options
        self.metrics = CallMetrics()
        self.path = CallPath(
            supervisor,
            self.metrics,
            audit,
            clock,
            viewers_may_call_tools=options.viewers_may_call_tools,
            audit_arguments=options.audit_tool_arguments,
        )
        self.management = Management(registry, supervisor, self.metrics, clock)
        self.fleet = Endpoint(supervisor, bus, self.path, management=self.management)
        self._fleet_manager = self._manager(self.fleet)
        self._per_server: dict[str, StreamableHTTPSessionManager] = {}
        self._per_server_scopes: dict[str, anyio.CancelScope] = {}
        self._starting = anyio.Lock()
        self._tg: TaskGroup | None = None

    def _manager(self, endpoint: Endpoint) -> StreamableHTTPSessionManager:
        return AdaptiveSessionManager(
            app=endpoint.server,
            stateless=self._options.stateless,
            security_settings=self._options.security(),
            max_request_body_size=self._options.max_body_bytes,
            session_idle_timeout=None if self._options.stateless else self._options.session_idle_timeout_s,
        )

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with (
            anyio.create_task_group() as tg,
            self._fleet_manager.run(),
            self._bus.subscribe() as events,
        ):
            self._tg = tg
            await tg.start(self.fleet.run)
            task_status.started()
            try:
                async for event in events:
                    if event.type == "server.removed" and event.subject in self._per_server_scopes:
                        self._per_server.pop(event.subject, None)
                        self._per_server_scopes.pop(event.subject).cancel()
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app of ``/mcp`` and ``/servers/{name}/mcp``."""
        path: str = scope["path"]
        if path == FLEET_PATH:
            await self._fleet_manager.handle_request(scope, receive, send)
            return
        name = path.removeprefix("/servers/").removesuffix(FLEET_PATH)
        try:
            manager = await self._server_manager(name)
        except NotFound as exc:
            response = JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": exc.message}},
                status_code=404,
            )
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)

    async def _server_manager(self, name: str) -> StreamableHTTPSessionManager:
        """Raises: NotFound when no server has that name."""
        self._supervisor.runner(name)
        if (running := self._per_server.get(name)) is not None:
            return running
        async with self._starting:
            if name not in self._per_server:
                if self._tg is None:
                    raise NotFound("the gateway is not running")
                await self._tg.start(self._serve_one, name)
        return self._per_server[name]

    async def _serve_one(self, name: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        endpoint = Endpoint(self._supervisor, self._bus, self.path, only_server=name)
        manager = self._manager(endpoint)
        with anyio.CancelScope() as scope:
            self._per_server_scopes[name] = scope
            async with anyio.create_task_group() as tg, manager.run():
                await tg.start(endpoint.run)
                self._per_server[name] = manager
                task_status.started()
                await anyio.sleep_forever()


def _with_port(host: str) -> str:
    """``name`` → ``name:*`` (any port); ``name:port`` and ``[v6]:port`` stay as they are."""
    after_brackets = host.rsplit("]", 1)[-1]
    return host if ":" in after_brackets else f"{host}:*"
