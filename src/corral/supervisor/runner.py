"""One server's owner: keeps its MCP session alive and is the only writer of its state.

The runner loops through the server's life: wait while disabled, idle (lazy)
or while the circuit is open; connect; probe on an interval while connected;
and when the session ends, decide whether that was a failure (back off, maybe
open the circuit) or a request (restart, disable, idle stop).

Calls from the gateway go through ``call_tool``: they fail fast while the
circuit is open, wait (bounded) for a lazy server to start, respect the
server's concurrency cap, and count towards the breaker.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import Client, MCPError
from mcp.client.session import IncomingMessage
from mcp.shared.dispatcher import CallOptions, ProgressFnT
from pydantic import BaseModel, ValidationError

from corral.clock import Clock
from corral.errors import CircuitOpen, TaskLost, Unavailable, UpstreamError, UpstreamTimeout
from corral.events.bus import EventBus
from corral.registry.models import ServerSpec, Transport
from corral.settings.live import CurrentSettings
from corral.supervisor.backoff import Backoff, BackoffPolicy
from corral.supervisor.breaker import BreakerPolicy, CircuitBreaker, CircuitState
from corral.supervisor.health import probe
from corral.supervisor.state import HealthCheck, ServerState, ServerStatus
from corral.upstream.catalog import load_catalog
from corral.upstream.connection import UpstreamClient, open_client
from corral.upstream.dedicated import DedicatedSessions
from corral.upstream.logs import LogBuffer, LogLine
from corral.upstream.peer import Peer
from corral.upstream.relay import Relay
from corral.upstream.stdio import StdioProcess

logger = logging.getLogger(__name__)

IDLE_DETAIL = "idle: starts on first use"


ResultT = TypeVar("ResultT", bound=BaseModel)
UpstreamRequest = (
    types.CallToolRequest
    | types.ReadResourceRequest
    | types.GetPromptRequest
    | types.CompleteRequest
    | types.SubscribeRequest
    | types.UnsubscribeRequest
    | types.SetLevelRequest
    | types.GetTaskRequest
    | types.GetTaskPayloadRequest
    | types.CancelTaskRequest
)


class _SessionEnd(Exception):
    """Why a connected session ended; ``failure`` ones count against the server."""

    def __init__(self, reason: str, *, failure: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure


class ServerRunner:
    node: str | None = None
    """The node the server runs on, when it is not the hub's own (the built-in node)."""

    def __init__(
        self,
        spec: ServerSpec,
        settings: CurrentSettings,
        bus: EventBus,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.logs = LogBuffer(on_lines=self._publish_log)
        self.state = ServerState(name=spec.name, transport=spec.transport.value)
        self._settings = settings
        self._bus = bus
        self._clock = clock
        self._breaker = CircuitBreaker(clock, self._breaker_policy())
        self._backoff = Backoff(self._backoff_policy(), rng or random.Random())
        self._client: UpstreamClient | None = None
        self._process: StdioProcess | None = None
        self._wake = anyio.Event()
        self._ready = anyio.Event()
        self._session_over = anyio.Event()
        self._catalog_changed = anyio.Event()
        self._end_request: _SessionEnd | None = None
        # A lazy server starts once to learn what it offers, then waits for its first use.
        self._discovering = spec.lazy
        self._callers_waiting = 0
        self._first_start = anyio.Event()
        self._demanded = spec.enabled
        if not spec.enabled:
            self.state.detail = "disabled"
        self._limiter = anyio.CapacityLimiter(spec.max_concurrent or math.inf)
        self._last_used = clock.monotonic()
        self._relay = Relay(spec.name, self.logs, clock.now)
        self._dedicated = DedicatedSessions(lambda: self.spec, self.logs, clock.now)

    @property
    def first_start_done(self) -> bool:
        """Whether the server's first start attempt ended (up, or failed)."""
        return self._first_start.is_set()

    async def first_start(self) -> None:
        """Wait until the server's first start attempt ended."""
        await self._first_start.wait()

    # -- commands (any task) ------------------------------------------------------------------

    def release_session(self, key: object) -> None:
        """A downstream client left: close its dedicated session, if it had one."""
        self._dedicated.release(key)

    def request_restart(self) -> None:
        """Restart now, and give the circuit a fresh start: an operator asked for it."""
        self._dedicated.release_all()
        self._breaker.reset()
        self._backoff.reset()
        self.state.crashes_in_a_row = 0
        self._demanded = True
        self._end_session(_SessionEnd("restart requested", failure=False))

    async def refresh_catalog(self) -> None:
        """Fetch the catalog now, for a caller that names something the hub does not know yet."""
        if self._client is not None:
            await self._load_catalog(self._client)

    def request_reload(self) -> None:
        """Fetch the server's catalog again at once (when it is connected)."""
        self._catalog_changed.set()

    def update_spec(self, spec: ServerSpec) -> None:
        """Apply a changed spec; a running server restarts when how to reach it changed."""
        reconnect = spec.model_dump(
            exclude={"enabled", "tags", "capabilities", "agent"}
        ) != self.spec.model_dump(exclude={"enabled", "tags", "capabilities", "agent"})
        self.spec = spec
        if spec.max_concurrent != self._limiter.total_tokens:
            self._limiter.total_tokens = spec.max_concurrent or math.inf
        if not spec.enabled:
            self._dedicated.release_all()
            self._end_session(_SessionEnd("disabled", failure=False))
        elif reconnect:
            self._end_session(_SessionEnd("configuration changed", failure=False))
        self._wake.set()

    def _end_session(self, end: _SessionEnd) -> None:
        self._end_request = end
        self._wake.set()

    # -- the owner loop ---------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self._dedicated.run)
                task_status.started()
                while True:
                    await self._step()
        finally:
            self._set_status(ServerStatus.UNKNOWN, "hub stopped")

    async def _step(self) -> None:
        self._wake = anyio.Event()
        self._end_request = None
        if not self.spec.enabled:
            self._mark_not_down()
            self._set_status(ServerStatus.DISABLED, "disabled")
            await self._wake.wait()
            return
        if not self._demanded:
            self._mark_not_down()
            self._set_status(ServerStatus.UNKNOWN, IDLE_DETAIL)
            await self._wake.wait()
            return
        self._sync_policies()
        if not self._breaker.allows_calls():
            self._mark_down()
            self._set_status(
                ServerStatus.CIRCUIT_OPEN, f"circuit open after {self.state.consecutive_failures} failures"
            )
            with anyio.move_on_after(self._breaker.seconds_until_probe()):
                await self._wake.wait()
            return
        end = await self._run_session()
        if end.failure:
            self._mark_down()
            self._record_failure(end.reason)
            if self._breaker.state is CircuitState.OPEN:
                return
            delay = self._backoff.next_delay()
            self._set_status(ServerStatus.DISCONNECTED, f"{end.reason}; restarting in {delay:.1f}s")
            with anyio.move_on_after(delay):
                await self._wake.wait()
        elif end.reason == "idle":
            # Stays up for a call that is waiting for it (it may have come as the session ended).
            stays = not (self.spec.lazy or self.spec.idle_stop_s) or self._callers_waiting > 0
            self._demanded = self.spec.enabled and stays

    async def _run_session(self) -> _SessionEnd:
        """Connect, serve until something ends the session, and say why it ended."""
        settings = self._settings.current
        connect_timeout = self.spec.connect_timeout_s or settings.connect_timeout_s
        self._set_status(ServerStatus.STARTING, "connecting")
        self.state.last_recovery_at = self._clock.now()
        connected = anyio.Event()
        end: _SessionEnd | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def watchdog() -> None:
                    with anyio.move_on_after(connect_timeout):
                        await connected.wait()
                        return
                    nonlocal end
                    end = _SessionEnd(f"no handshake within {connect_timeout:g}s", failure=True)
                    tg.cancel_scope.cancel()

                tg.start_soon(watchdog)
                async with open_client(
                    self.spec,
                    logs=self.logs,
                    now=self._clock.now,
                    on_process=self._on_process,
                    handlers=self._relay.handlers(self._on_message),
                    read_timeout_s=self.spec.call_timeout_s or settings.call_timeout_s,
                ) as client:
                    await self._load_catalog(client)
                    connected.set()
                    end = await self._serve(client)
                    tg.cancel_scope.cancel()
        except* anyio.get_cancelled_exc_class():
            raise
        except* MCPError as group:
            end = end or _SessionEnd(_describe(group.exceptions[0]), failure=True)
        except* OSError as group:
            end = end or _SessionEnd(f"cannot start: {_describe(group.exceptions[0])}", failure=True)
        except* Exception as group:
            logger.debug("session of %s ended with %r", self.spec.name, group.exceptions)
            end = end or _SessionEnd(_describe(group.exceptions[0]), failure=True)
        finally:
            self._first_start.set()
            self._client = None
            self._ready.set()  # callers waiting for this session look again, at the next one
            self._ready = anyio.Event()
            self._session_over.set()
            self._session_over = anyio.Event()
            self.state.up_since = None
            self.state.pid = None
            self._process = None
        if end is None:
            # The transport died under us (an HTTP upstream went away) and cancelled the session.
            end = _SessionEnd("connection lost", failure=True)
        return end

    async def _serve(self, client: UpstreamClient) -> _SessionEnd:
        self.state.up_since = self._clock.monotonic()
        self._breaker.record_success()
        self._mark_not_down()
        first = await probe(client, self.spec, self._process, self._settings.current, self._clock)
        self._apply_check(first)
        self._first_start.set()
        self._last_used = self._clock.monotonic()
        if self._discovering:
            self._discovering = False
            if not self._callers_waiting:  # a call that came meanwhile keeps the session
                return _SessionEnd("idle", failure=False)
        # Calls get the client only now: one taken during a lazy server's first look would be cut off.
        self._client = client
        self._ready.set()
        result: _SessionEnd | None = None
        async with anyio.create_task_group() as tg:

            async def finish(end: _SessionEnd) -> None:
                nonlocal result
                result = result or end
                tg.cancel_scope.cancel()

            tg.start_soon(self._probe_loop, client, finish)
            tg.start_soon(self._watch_process, finish)
            tg.start_soon(self._watch_requests, finish)
            if self.spec.idle_stop_s:
                tg.start_soon(self._watch_idle, self.spec.idle_stop_s, finish)
        assert result is not None
        return result

    async def _probe_loop(self, client: Client, finish: Callable[[_SessionEnd], Awaitable[None]]) -> None:
        while True:
            with anyio.move_on_after(self._settings.current.ping_interval_s):
                await self._catalog_changed.wait()
                # A fresh event before listing: a notice that comes while the listing runs may be
                # about a change the listing missed, so it asks for another one.
                self._catalog_changed = anyio.Event()
                await self._load_catalog(client)
                continue
            check = await probe(
                client,
                self.spec,
                self._process,
                self._settings.current,
                self._clock,
                known_tools_hash=self.state.digests.get("tools", ""),
            )
            if check.reason == "tools_changed":
                await self._load_catalog(client)
            if check.reason == "session_lost":
                await finish(_SessionEnd(check.message, failure=False))
                return
            if self._apply_check(check):
                await finish(_SessionEnd(f"circuit opened: {check.message}", failure=False))
            if self._stable():
                self._backoff.reset()
                self.state.crashes_in_a_row = 0

    async def _watch_process(self, finish: Callable[[_SessionEnd], Awaitable[None]]) -> None:
        if self._process is None:
            await anyio.sleep_forever()
        assert self._process is not None
        await self._process.ended.wait()
        code = self._process.returncode
        self.state.crashes_in_a_row += 0 if self._stable() else 1
        await finish(
            _SessionEnd(
                f"process exited (code {code})" if code is not None else "process closed stdout", failure=True
            )
        )

    async def _watch_requests(self, finish: Callable[[_SessionEnd], Awaitable[None]]) -> None:
        while self._end_request is None:
            await self._wake.wait()
            self._wake = anyio.Event()
        await finish(self._end_request)

    async def _watch_idle(self, idle_s: float, finish: Callable[[_SessionEnd], Awaitable[None]]) -> None:
        while True:
            idle_for = self._clock.monotonic() - self._last_used
            if self.state.calls_in_flight == 0 and idle_for >= idle_s:
                await finish(_SessionEnd("idle", failure=False))
            await anyio.sleep(max(0.05, idle_s - idle_for))

    @property
    def supports_logging(self) -> bool:
        """Whether the connected server declared the logging capability."""
        return self._client is not None and self._client.server_capabilities.logging is not None

    @property
    def offers_tool_tasks(self) -> bool:
        """Whether the connected server runs tool calls as MCP tasks when asked to."""
        tasks = self._client.server_capabilities.tasks if self._client is not None else None
        return tasks is not None and tasks.requests is not None and tasks.requests.tools is not None

    @property
    def idle(self) -> bool:
        """Stopped until its next use (lazy start or idle stop), not because anything failed."""
        return self.spec.enabled and not self._demanded and self.state.status is ServerStatus.UNKNOWN

    @property
    def offers_catalog(self) -> bool:
        """Whether its catalog should be listed: it serves, or it idles with a known catalog."""
        if not self.spec.enabled:
            return False
        return self.state.status.serving or (self.idle and bool(self.state.digests))

    # -- calls (gateway's tasks) ---------------------------------------------------------------

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        timeout_s: float | None = None,
        progress: ProgressFnT | None = None,
        meta: dict[str, Any] | None = None,
        peer: Peer | None = None,
        session_key: object = None,
    ) -> types.CallToolResult:
        """Call one of this server's tools; see ``request`` for what can go wrong."""
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=tool, arguments=arguments, _meta=meta)
        )
        return await self.request(
            request,
            types.CallToolResult,
            label=tool,
            timeout_s=self.call_deadline(tool, timeout_s),
            report=progress,
            peer=peer,
            session_key=session_key,
        )

    def call_deadline(self, tool: str, timeout_s: float | None = None) -> float:
        """Seconds a call of ``tool`` may take: the caller's, else the tool's, the server's or the hub's."""
        return (
            timeout_s
            or self.spec.tool_timeouts.get(tool)
            or self.spec.call_timeout_s
            or self._settings.current.call_timeout_s
        )

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
        """Send one request to the server through the breaker, the concurrency cap and a deadline.

        The deadline restarts with every progress notification, so a long call that keeps
        reporting progress is not cut off. ``peer`` is the downstream client on whose behalf
        the request runs: the server's own requests (sampling, elicitation, roots) and log
        messages during the call go to it. ``session_key`` names that client's connection: a
        ``per_client`` server gets one upstream session per key.

        Raises:
            CircuitOpen: the circuit is open; the request was not sent.
            Unavailable: the server is disabled or did not come up in time.
            UpstreamTimeout: no answer (or progress) within the deadline; the server was told to cancel.
            UpstreamError: the connection failed or the server answered with a protocol error.
        """
        self._last_used = self._clock.monotonic()
        deadline = timeout_s or self.spec.call_timeout_s or self._settings.current.call_timeout_s
        async with self._limiter:
            self.state.calls_in_flight += 1
            try:
                for attempt in (1, 2):
                    client, session_over = await self._ready_client(), self._session_over
                    relay = self._relay
                    if self.spec.session == "per_client" and session_key is not None:
                        client, relay = await self._dedicated.client_for(session_key, self._connect_timeout())
                    self._last_used = self._clock.monotonic()
                    try:
                        with (
                            relay.serving(peer),
                            anyio.CancelScope(deadline=anyio.current_time() + deadline) as scope,
                        ):

                            async def on_progress(
                                progress: float, total: float | None, message: str | None
                            ) -> None:
                                scope.deadline = anyio.current_time() + deadline
                                if report is not None:
                                    await report(progress, total, message)

                            result = await _send(client, request, result_type, on_progress, relay)
                        break
                    except MCPError as exc:
                        if attempt == 1 and self._forgot_session(exc):
                            # An HTTP upstream that restarted no longer knows our session: open a new one
                            # and send the request again, without the caller noticing.
                            self._end_session(_SessionEnd("the server forgot its session", failure=False))
                            with anyio.move_on_after(self._connect_timeout()):
                                await session_over.wait()
                            continue
                        raise self._upstream_error(exc, label, request) from exc
            finally:
                self.state.calls_in_flight -= 1
                self._last_used = self._clock.monotonic()
        if scope.cancelled_caught:
            self._record_failure(f"{label}: no answer within {deadline:g}s")
            if self._breaker.state is CircuitState.OPEN:
                self._end_session(_SessionEnd("circuit opened by failing calls", failure=False))
            raise UpstreamTimeout(
                f"server {self.spec.name!r} did not answer {label!r} within {deadline:g}s",
                server=self.spec.name,
            )
        if self._breaker.record_success():
            self._publish_state()
        return result

    async def wait_ready(self) -> None:
        """Wait (bounded) until the server can take calls, starting it if it is idle.

        Raises: CircuitOpen, Unavailable — as ``request``.
        """
        await self._ready_client()

    def _forgot_session(self, error: MCPError) -> bool:
        return (
            self.spec.transport is Transport.HTTP
            and error.code == types.INVALID_REQUEST
            and "session not found" in error.message.lower()
        )

    def _upstream_error(self, error: MCPError, label: str, request: UpstreamRequest) -> UpstreamError:
        if isinstance(request, types.GetTaskRequest) and error.code in (
            types.INVALID_PARAMS,
            types.METHOD_NOT_FOUND,
        ):
            return TaskLost(
                f"server {self.spec.name!r} no longer knows task {request.params.task_id!r}: {error.message}",
                server=self.spec.name,
            )
        if error.code == types.CONNECTION_CLOSED:
            message = f"server {self.spec.name!r} went away during {label!r}: {error.message}"
        else:
            message = f"server {self.spec.name!r}: {error.message}"
        return UpstreamError(message, server=self.spec.name)

    def _connect_timeout(self) -> float:
        return self.spec.connect_timeout_s or self._settings.current.connect_timeout_s

    async def _ready_client(self) -> UpstreamClient:
        if not self.spec.enabled:
            raise Unavailable(f"server {self.spec.name!r} is disabled", **self._state_details())
        if not self._breaker.allows_calls() or self.state.status is ServerStatus.CIRCUIT_OPEN:
            raise CircuitOpen(
                f"server {self.spec.name!r} is unavailable: circuit open after "
                f"{self.state.consecutive_failures} failures; "
                f"retry in {self._breaker.seconds_until_probe():.0f}s",
                **self._state_details(),
            )
        if self._client is None:
            self._demanded = True
            self._wake.set()
            wait_s = self.spec.connect_timeout_s or self._settings.current.connect_timeout_s
            self._callers_waiting += 1
            try:
                with anyio.move_on_after(wait_s):
                    while self._client is None:  # a session that ends first wakes us to wait for the next
                        await self._ready.wait()
            finally:
                self._callers_waiting -= 1
        if self._client is None:
            raise Unavailable(
                f"server {self.spec.name!r} is {self.state.status.value}: {self.state.detail}",
                **self._state_details(),
            )
        return self._client

    def _state_details(self) -> dict[str, str]:
        """What a refused call tells its caller about the server (REST puts it in the problem)."""
        return {
            "server": self.spec.name,
            "server_status": self.state.status.value,
            "circuit_state": self.state.circuit_state.value,
        }

    # -- state (written here only) -------------------------------------------------------------

    def _on_process(self, process: StdioProcess) -> None:
        self._process = process
        self.state.pid = process.pid

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.ResourceListChangedNotification
            | types.PromptListChangedNotification,
        ):
            self._catalog_changed.set()
        elif isinstance(message, types.ResourceUpdatedNotification):
            self._bus.publish(
                "servers", "server.resource_updated", self.spec.name, {"uri": str(message.params.uri)}
            )
        elif isinstance(message, Exception):
            logger.debug("transport error from %s: %r", self.spec.name, message)

    async def _load_catalog(self, client: Client) -> None:
        with anyio.fail_after(self.spec.connect_timeout_s or self._settings.current.connect_timeout_s):
            catalog = await load_catalog(client)
        digests = catalog.digests()
        first_listing = not self.state.digests
        changed = [kind for kind, value in digests.items() if self.state.digests.get(kind) != value]
        self.state.catalog, self.state.digests = catalog, digests
        if changed and not first_listing:
            for kind in changed:
                self._bus.publish(
                    "servers", f"server.{kind}_changed", self.spec.name, {kind: len(catalog.tools)}
                )

    def _apply_check(self, check: HealthCheck) -> bool:
        """Record a health check; returns True when it opened the circuit."""
        self._sync_policies()
        self.state.last_check = check
        self.state.recent_checks.append(check)
        self._bus.publish("servers", "server.health", self.spec.name, check.to_json())
        if check.latency_ms is not None:
            self.state.latency_ms = check.latency_ms
        if check.ok:
            self._breaker.record_success()
            degraded = check.reason in ("slow", "tools_changed")
            self._set_status(ServerStatus.DEGRADED if degraded else ServerStatus.HEALTHY, check.message)
            return False
        self.state.last_error = check.message
        opened = self._breaker.record_failure()
        self._set_status(ServerStatus.DEGRADED, check.message)
        return opened

    def _record_failure(self, reason: str) -> None:
        self._sync_policies()
        self.state.last_error = reason
        self._breaker.record_failure()
        if self.state.crashes_in_a_row >= self._settings.current.crash_limit:
            self._breaker.trip()
        if self._breaker.state is CircuitState.OPEN:
            self._set_status(ServerStatus.CIRCUIT_OPEN, f"circuit open: {reason}")

    def _stable(self) -> bool:
        uptime = self.state.uptime_s(self._clock.monotonic())
        return uptime is not None and uptime >= self._settings.current.stable_period_s

    def _mark_down(self) -> None:
        if self.state.down_since is None:
            self.state.down_since = self._clock.monotonic()

    def _mark_not_down(self) -> None:
        if self.state.down_since is not None:
            self.state.downtime_s += self._clock.monotonic() - self.state.down_since
            self.state.down_since = None

    def _set_status(self, status: ServerStatus, detail: str) -> None:
        previous, previous_circuit = self.state.status, self.state.circuit_state
        if status is ServerStatus.STARTING and previous not in (ServerStatus.UNKNOWN, ServerStatus.DISABLED):
            self.state.restarts += 1
        self.state.status, self.state.detail = status, detail
        self._read_breaker()
        if previous_circuit is not self.state.circuit_state:
            self._bus.publish(
                "servers",
                "server.circuit",
                self.spec.name,
                {"from": previous_circuit.value, "to": self.state.circuit_state.value},
            )
        if previous is not status:
            logger.info("server %s: %s → %s (%s)", self.spec.name, previous.value, status.value, detail)
            self._publish_state()

    def _publish_log(self, lines: list[LogLine]) -> None:
        """New stderr lines (or the hub's notes), as one ``server.log`` event, so a page follows the log."""
        self._bus.publish(
            "servers",
            "server.log",
            self.spec.name,
            {"lines": [{"time": line.time.isoformat(), "text": line.text} for line in lines]},
        )

    def _read_breaker(self) -> None:
        """Show the breaker's state; a server on another node shows its node's breaker instead."""
        self.state.circuit_state = self._breaker.state
        self.state.consecutive_failures = self._breaker.consecutive_failures

    def _publish_state(self) -> None:
        self._read_breaker()
        snapshot = self.state.to_json(self._clock.monotonic())
        snapshot.pop("tools")
        snapshot.pop("recent_checks")  # each came as its own server.health event
        self._bus.publish("servers", "server.status", self.spec.name, snapshot)

    def _sync_policies(self) -> None:
        """Settings change at run time; the breaker and backoff follow them at their next decision."""
        self._breaker.policy = self._breaker_policy()
        self._backoff.policy = self._backoff_policy()

    def _breaker_policy(self) -> BreakerPolicy:
        current = self._settings.current
        return BreakerPolicy(current.failure_threshold, current.cooldown_s, current.max_cooldown_s)

    def _backoff_policy(self) -> BackoffPolicy:
        current = self._settings.current
        return BackoffPolicy(current.restart_initial_s, current.restart_max_s, current.restart_jitter)


async def _send(
    client: UpstreamClient,
    request: UpstreamRequest,
    result_type: type[ResultT],
    progress: ProgressFnT,
    relay: Relay,
) -> ResultT:
    """Send one request on the session; a ``tools/call`` goes around the SDK's session where it can.

    A plain call goes on the transport's lane when it has one (Corral's own transports, not the SDK's):
    in the caller's task, it skips the client session's hand-offs between tasks, which at concurrency 1
    are much of what the hub adds to a call (upstream/lane.py). SDK 2.3 checks every ``tools/call``
    answer as a ``CallToolResult``, which a ``CreateTaskResult`` is not, so a task-augmented call goes
    straight to the session's dispatcher (two private names, which is why ``mcp`` is pinned below 2.4).
    The answers of both are checked here.
    """
    session = client.session
    if not isinstance(request, types.CallToolRequest):
        return await session.send_request(request, result_type, progress_callback=progress)
    data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
    if request.params.task is None:
        if client.lane is None:
            return await session.send_request(request, result_type, progress_callback=progress)
        raw = await client.lane.call(data["method"], data.get("params"), progress, relay.log)
    else:
        options: CallOptions = {"on_progress": progress}
        session._stamp(data, options)
        raw = await session._dispatcher.send_raw_request(data["method"], data.get("params"), options)
    try:
        return result_type.model_validate(raw, by_name=False)
    except ValidationError as exc:
        raise MCPError(types.INTERNAL_ERROR, f"the answer is not a {result_type.__name__}: {exc}") from exc


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
