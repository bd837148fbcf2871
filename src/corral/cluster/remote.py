"""A server that runs on another node, as the hub holds it: listed, routed to and called like its own.

The hub keeps one ``RemoteRunner`` per server a ``corral node`` reports, named ``<node>.<server>`` so
that the same server on two nodes is two servers (and two agents, ``<node>/<server>``). It is a
``ServerRunner`` whose session lives on the node: its state and tools are what the node last said
(heartbeats, reports), its breaker is the node's (the hub's stays unused), and its ``request`` sends a
tool call to the node through a ``RemoteCaller`` instead of an MCP session. Everything above the runner
— the one call path, the gateway's catalog, routing, the API — sees no difference.

What does not cross to a node yet: requests other than ``tools/call`` (resources and prompts of
remote servers are not listed, so none are routed there), and the server's own requests during a call
(sampling, elicitation, roots) and its log lines.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT
from pydantic import ValidationError

from corral.clock import Clock
from corral.cluster.nats.wire import HostedServer, ServerBeat, WireError
from corral.errors import Unavailable, UpstreamError
from corral.events.bus import EventBus
from corral.registry.models import ServerSpec
from corral.settings.live import CurrentSettings
from corral.supervisor.breaker import CircuitState
from corral.supervisor.runner import ResultT, ServerRunner, UpstreamRequest
from corral.supervisor.state import ServerStatus
from corral.upstream.catalog import UpstreamCatalog
from corral.upstream.peer import Peer

logger = logging.getLogger(__name__)


class RemoteCaller(Protocol):
    """How the hub reaches its nodes (``cluster/nats/calls.py``)."""

    async def call(
        self,
        node: str,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        meta: dict[str, Any] | None,
        deadline_s: float,
        report: ProgressFnT | None,
    ) -> types.CallToolResult:
        """Raises: Unavailable (the node or NATS), UpstreamTimeout, UpstreamError, as the node met them."""
        ...

    def order(self, node: str, action: str, target: str) -> None:
        """Send a control order (restart, reload) without waiting."""
        ...


def hub_name(node: str, server: str) -> str:
    """The name the hub gives a server of another node."""
    return f"{node}.{server}"


def remote_spec(node: str, hosted: HostedServer) -> ServerSpec:
    """The spec the hub shows for a node's server (secrets were hidden by the node). Raises: WireError."""
    try:
        return ServerSpec.model_validate({**hosted.spec, "name": hub_name(node, hosted.name)})
    except ValidationError as exc:
        raise WireError(f"server {hosted.name!r}: not a server spec: {exc.errors()[0]['msg']}") from exc


class RemoteRunner(ServerRunner):
    def __init__(
        self,
        node: str,
        hosted: HostedServer,
        caller: RemoteCaller,
        settings: CurrentSettings,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        """Raises: WireError — the report does not describe a server."""
        super().__init__(remote_spec(node, hosted), settings, bus, clock)
        self.node = self._node = node
        self.local_name = hosted.name
        self._caller = caller
        self._call_timeout_s = hosted.call_timeout_s
        self._first_start.set()  # it started on its node: the hub's readiness does not wait for it
        self.update(hosted)

    # -- what the node says ------------------------------------------------------------------------

    def update(self, hosted: HostedServer) -> None:
        """Take the node's latest report of the server: its spec and tools. Raises: WireError."""
        self.spec = remote_spec(self._node, hosted)
        self._call_timeout_s = hosted.call_timeout_s
        catalog = UpstreamCatalog(tools=hosted.tool_list())
        digests = catalog.digests()
        changed = bool(self.state.digests) and digests["tools"] != self.state.digests.get("tools")
        self.state.catalog, self.state.digests = catalog, digests
        if changed:
            self._bus.publish(
                "servers", "server.tools_changed", self.spec.name, {"tools": len(catalog.tools)}
            )

    def show(self, beat: ServerBeat) -> None:
        """Take the server's state from its node's heartbeat."""
        try:
            status = ServerStatus(beat.status)
            circuit = CircuitState(beat.circuit_state)
        except ValueError:
            status, circuit = ServerStatus.UNKNOWN, CircuitState.CLOSED
        state = self.state
        state.circuit_state = circuit
        state.consecutive_failures = beat.consecutive_failures
        state.calls_in_flight = beat.calls_in_flight
        state.last_error = beat.last_error
        state.latency_ms = beat.latency_ms
        state.restarts = beat.restarts
        state.pid = beat.pid
        state.up_since = None if beat.uptime_s is None else self._clock.monotonic() - beat.uptime_s
        if status.serving:
            self._mark_not_down()
        else:
            self._mark_down()
        self._show(status, beat.detail)

    def lost(self, reason: str) -> None:
        """Its node is gone: the server is unreachable until the node speaks again."""
        self.state.calls_in_flight = 0
        self.state.pid = self.state.up_since = None
        self._mark_down()
        self._show(ServerStatus.DISCONNECTED, reason)

    def _show(self, status: ServerStatus, detail: str) -> None:
        """The node counts restarts and keeps the breaker: the hub only shows what it says."""
        previous = self.state.status
        self.state.status, self.state.detail = status, detail
        if previous is not status:
            logger.info("server %s: %s → %s (%s)", self.spec.name, previous.value, status.value, detail)
            self._publish_state()

    def _read_breaker(self) -> None:
        """The node's breaker is the one that counts, and ``show`` copied its state."""

    # -- calls -----------------------------------------------------------------------------------

    @property
    def offers_tool_tasks(self) -> bool:
        return False

    @property
    def supports_logging(self) -> bool:
        return False

    def call_deadline(self, tool: str, timeout_s: float | None = None) -> float:
        return timeout_s or self.spec.tool_timeouts.get(tool) or self._call_timeout_s

    async def wait_ready(self) -> None:
        """Raises: Unavailable — the server does not serve on its node now (or the node is lost)."""
        if not self.state.status.serving:
            raise Unavailable(
                f"server {self.spec.name!r} is {self.state.status.value}: {self.state.detail}",
                server=self.spec.name,
                server_status=self.state.status.value,
                circuit_state=self.state.circuit_state.value,
            )

    async def refresh_catalog(self) -> None:
        """Nothing to ask: the node reports the server's tools whenever they change."""

    def request_restart(self) -> None:
        self._caller.order(self._node, "restart", self.local_name)

    def request_reload(self) -> None:
        self._caller.order(self._node, "reload", self.local_name)

    async def request(
        self,
        request: UpstreamRequest,
        result_type: type[ResultT],
        *,
        label: str,
        timeout_s: float | None = None,
        report: ProgressFnT | None = None,
        peer: Peer | None = None,
        session_key: object = None,
    ) -> ResultT:
        """Send a tool call to the server's node and wait for its outcome.

        Raises: Unavailable (the server does not serve, the node or NATS is gone), UpstreamTimeout,
        UpstreamError (a request other than a tool call, or as the node met it).
        """
        if not isinstance(request, types.CallToolRequest) or result_type is not types.CallToolResult:
            raise UpstreamError(
                f"server {self.spec.name!r} runs on node {self.node!r}: only tool calls reach it",
                server=self.spec.name,
            )
        await self.wait_ready()
        params = request.params
        result = await self._caller.call(
            self._node,
            self.local_name,
            params.name,
            params.arguments or {},
            meta=_forwarded(params.meta),
            deadline_s=timeout_s or self.call_deadline(params.name),
            report=report,
        )
        assert isinstance(result, result_type)
        return result


def _forwarded(meta: types.RequestParamsMeta | None) -> dict[str, Any] | None:
    """The call's ``_meta`` without the progress token: the node's session makes its own."""
    if not meta:
        return None
    return {key: value for key, value in meta.items() if key not in ("progress_token", "progressToken")}
