"""The composition root: builds the hub's components and owns its top task group.

Start-up order: store (migrated) → runtime settings → supervisor → registry
reconciled from the config file → HTTP listener. Shutdown is cancellation of
the task group: the listener stops, then every supervised process is stopped.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn

from corral.api.app import create_api
from corral.api.authz import Access
from corral.api.context import ApiContext
from corral.api.events import EventStreamContext
from corral.audit.archive import AuditArchive
from corral.audit.log import AuditLog
from corral.audit.store import AuditStore
from corral.auth.accounts import Accounts
from corral.auth.admin_token import ensure_admin_token
from corral.auth.authenticator import HubAuthenticator
from corral.auth.sessions import SessionSigner, ensure_signing_key
from corral.auth.store import AuthStore
from corral.clock import Clock, SystemClock
from corral.cluster.builtin import BuiltinNode, NodeDirectory
from corral.cluster.nats.hub import ScaleOut
from corral.config.file import ConfigFile
from corral.config.settings import Settings
from corral.db.engine import Database, open_database
from corral.db.health import StoreHealth
from corral.db.housekeeping import StoreKeeper
from corral.db.migrate import upgrade
from corral.errors import ConfigError
from corral.events.bus import EventBus
from corral.events.log import EventLog
from corral.events.store import EventStore
from corral.events.ticker import MetricsTicker
from corral.gateway.cluster_tools import cluster_tools
from corral.gateway.gateway import Gateway, HttpOptions
from corral.gateway.pattern_tools import pattern_tools
from corral.gateway.task_tools import task_tools
from corral.gateway.workflow_tools import workflow_tools
from corral.observability.metrics import HubMetrics
from corral.patterns.actions import ServerActions
from corral.patterns.applications import PatternService
from corral.patterns.library import PatternLibrary
from corral.patterns.store import ApplicationStore
from corral.projects.projects import Projects
from corral.registry.registry import Registry
from corral.registry.store import ServerStore
from corral.retention.pruner import Pruner
from corral.secrets.cipher import load_cipher
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.supervisor import Supervisor
from corral.tasks.agents import AgentDirectory
from corral.tasks.dispatcher import TaskDispatcher
from corral.tasks.groups import TaskGroups
from corral.tasks.store import GroupStore, TaskStore
from corral.workflow.engine import WorkflowEngine
from corral.workflow.step_calls import StepCalls
from corral.workflow.store import WorkflowStore

logger = logging.getLogger(__name__)

KEEP_ALIVE_S = 65
"""How long an idle HTTP connection stays open: longer than clients keep one (httpx 5 s, most load
balancers 60 s), so that the client, not the hub, ends it. A hub that closed first (uvicorn's default
was 5 s) raced clients reusing the connection: "Server disconnected without sending a response"."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_mode(settings: Settings) -> None:
    """Raises: ConfigError when running without auth is asked for on a non-loopback address."""
    if settings.no_auth and not is_loopback(settings.host):
        raise ConfigError(
            f"--no-auth is refused: the hub would listen on {settings.host}, "
            "which is not a loopback address; "
            "bind to 127.0.0.1 or drop --no-auth"
        )


@dataclass
class Listening:
    """Where the HTTP listener ended up (the port is chosen by the OS when 0 was asked for)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def http_options(settings: Settings) -> HttpOptions:
    hosts = ["127.0.0.1", "localhost", "[::1]", *settings.allowed_hosts]
    if not is_loopback(settings.host) and settings.host not in ("0.0.0.0", "::"):
        hosts.append(settings.host)
    return HttpOptions(
        allowed_hosts=tuple(hosts),
        stateless=settings.mcp_stateless,
        max_body_bytes=settings.max_request_bytes,
        viewers_may_call_tools=settings.auth.viewers_may_call_tools,
        audit_tool_arguments=settings.auth.audit_tool_arguments,
    )


DATABASE_CLOSE_S = 10.0


class Hub:
    def __init__(self, settings: Settings, config: ConfigFile, clock: Clock | None = None) -> None:
        check_auth_mode(settings)
        self.settings = settings
        self.config = config
        self.clock = clock or SystemClock()
        self.bus = EventBus(self.clock)
        self.database: Database = open_database(settings.store_url)
        self.live_settings = LiveSettings(SettingStore(self.database), self.clock)
        self.supervisor = Supervisor(self.live_settings, self.bus, self.clock)
        self.node = BuiltinNode(
            settings.node,
            self.bus,
            self.clock,
            servers=lambda: [runner.spec.name for runner in self.supervisor.runners()],
        )
        self.nodes = NodeDirectory(self.node)
        self.scale_out = (
            ScaleOut(
                settings.nats_url,
                settings.cluster,
                self.nodes,
                self.supervisor,
                self.live_settings,
                self.bus,
                self.clock,
            )
            if settings.nats_url
            else None
        )
        """The nodes on other machines, over NATS; None in the one-process default."""
        cipher = load_cipher(settings.secrets_key, settings.secrets_key_path)
        self.registry = Registry(ServerStore(self.database, cipher), self.supervisor, self.bus, self.clock)
        self.event_log = EventLog(EventStore(self.database), self.bus, settings.events, self.clock)
        self.audit = AuditLog(AuditStore(self.database), self.bus)
        self.pruner = Pruner(
            self.database,
            self.live_settings,
            self.audit,
            AuditStore(self.database),
            AuditArchive(settings.archive_path),
            self.event_log,
            self.clock,
        )
        self.store_keeper = StoreKeeper(self.database)
        self.store_health = StoreHealth(self.database)
        self.metrics = HubMetrics()
        self.gateway = Gateway(
            self.registry, self.supervisor, self.bus, self.clock, self.audit, http_options(settings)
        )
        self.step_calls = StepCalls(self.gateway.path, ServerActions(self.supervisor, self.bus))
        self.workflows = WorkflowEngine(
            WorkflowStore(self.database),
            self.supervisor,
            self.step_calls,
            self.bus,
            self.clock,
            step_finished=self.metrics.step_finished,
        )
        self.gateway.management.tools.update(workflow_tools(self.workflows))
        self.tasks = TaskDispatcher(
            TaskStore(self.database),
            self.gateway.path,
            AgentDirectory(self.supervisor, self.node.info, self.nodes.get),
            self.bus,
            self.clock,
        )
        self.step_calls.tasks = self.tasks
        self.projects = Projects(
            self.database,
            self.supervisor,
            self.workflows.store,
            self.workflows.history,
            self.tasks.store,
            self.gateway.metrics,
            self.clock,
        )
        self.tasks.projects = self.projects
        self.task_groups = TaskGroups(GroupStore(self.database), self.tasks, self.bus, self.clock)
        self.gateway.management.tools.update(
            task_tools(self.registry, self.tasks, self.task_groups, self.projects)
        )
        self.patterns = PatternService(
            PatternLibrary.load(settings.patterns_dir),
            ApplicationStore(self.database),
            self.workflows,
            self.supervisor,
            self.bus,
            self.clock,
        )
        self.gateway.management.tools.update(pattern_tools(self.patterns))
        self.gateway.management.tools.update(cluster_tools(self.nodes))
        self.metrics_ticker = MetricsTicker(
            self.bus,
            self.clock,
            settings.events.metrics_interval_s,
            self.gateway.metrics,
            open_circuits=lambda: sum(r.state.circuit_state != "closed" for r in self.supervisor.runners()),
            running_executions=self.workflows.running_count,
            server_statuses=lambda: dict(Counter(r.state.status.value for r in self.supervisor.runners())),
        )
        self.metrics.watch(
            calls=self.gateway.metrics,
            supervisor=self.supervisor,
            bus=self.bus,
            event_log=self.event_log,
            executions=self.workflows.history.status_counts,
            dispatcher=self.tasks,
        )
        self.metrics.watch_retention(self.pruner)
        self.metrics.watch_nodes(self.nodes.nodes)
        self.admin_token: str | None = None
        self.accounts: Accounts | None = None
        self.listening: Listening | None = None
        self._started = False

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        waiting = [
            runner.spec.name
            for runner in self.supervisor.runners()
            if runner.spec.enabled and not runner.first_start_done
        ]
        store = self.store_health.problem
        ready = self._started and not waiting and store is None
        return ready, {"servers": len(self.supervisor.runners()), "starting": waiting, "store": store or "ok"}

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every enabled server had its first start attempt; False if that took too long."""
        async with self.bus.subscribe() as events:
            with anyio.move_on_after(timeout_s):
                while not self.readiness()[0]:
                    await events.receive()
        return self.readiness()[0]

    async def run(
        self,
        *,
        http: bool = True,
        task_status: anyio.abc.TaskStatus[Listening | None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled; reports where it listens once ready (None without the HTTP listener)."""
        try:
            await upgrade(self.database)
            await self.registry.seal_secrets()
            await self.live_settings.load(self.config.settings)
            if not self.settings.no_auth:
                self.admin_token = ensure_admin_token(self.settings.admin_token_path)
            async with anyio.create_task_group() as tg:
                await tg.start(self.event_log.run)  # first: it numbers events after the stored ones
                await tg.start(self.audit.run)
                await tg.start(self.node.run)
                await tg.start(self.supervisor.run)
                await tg.start(self.gateway.run)
                if self.scale_out is not None:
                    await tg.start(self.scale_out.run)
                await tg.start(self.workflows.run)
                await tg.start(self.patterns.run)
                await tg.start(self.metrics_ticker.run)
                await tg.start(self.pruner.run)
                await tg.start(self.store_keeper.run)
                await tg.start(self.store_health.run)
                # Listening before the servers start: their start (20 interpreters importing at once,
                # or a handshake that never comes) is theirs, and /readyz says when it is done.
                listening = await tg.start(self._serve_http) if http else None
                await self.registry.reconcile(self.config.servers)
                await tg.start(self.tasks.run)
                await tg.start(self.task_groups.run)
                # Once the servers are known: each execution waits for those it needs, not for all.
                await self.workflows.recover()
                self._started = True
                task_status.started(listening)
        finally:
            # Bounded: a connection stuck in its driver's thread must not keep the hub from stopping.
            with anyio.CancelScope(shield=True), anyio.move_on_after(DATABASE_CLOSE_S) as closing:
                await self.database.close()
            if closing.cancelled_caught:
                logger.warning("the store's connections did not close within %gs", DATABASE_CLOSE_S)

    async def _serve_http(self, *, task_status: anyio.abc.TaskStatus[Listening]) -> None:
        context = ApiContext(
            self.registry,
            self.supervisor,
            self.live_settings,
            self.clock,
            self.readiness,
            self.workflows,
            self.patterns,
            self.gateway.fleet,
            self.tasks,
            self.task_groups,
            self.projects,
            self.nodes,
            self.pruner,
            self.event_log,
        )
        configured_key = self.settings.auth.signing_key
        signer = SessionSigner(
            configured_key.get_secret_value()
            if configured_key
            else ensure_signing_key(self.settings.signing_key_path),
            self.settings.auth.login_ttl_s,
            self.clock,
        )
        self.accounts = Accounts(AuthStore(self.database), signer, self.clock)
        authenticator = (
            None if self.settings.no_auth else HubAuthenticator(self.accounts, self.clock, self.admin_token)
        )
        access = Access(self.accounts, self.audit, AuditStore(self.database), self.clock, self.settings.auth)
        events = EventStreamContext(
            self.event_log, self.metrics_ticker, self.settings.events, self.clock, authenticator
        )
        app = create_api(
            context,
            authenticator=authenticator,
            access=access,
            events=events,
            mcp=self.gateway.handle,
            hub_metrics=self.metrics,
        )
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns on TCP_NODELAY only for sockets made that way; without it a
        # reused connection waits ~40 ms for delayed ACKs on every response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}"
            ) from exc
        # No per-message deflate on WebSockets: the event stream encodes each event once for every client,
        # and compressing it again per client (with a zlib context per connection) costs more than it saves.
        # The hub keeps an idle connection longer than its clients do (docs/design.md, "Keep-alive").
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_per_message_deflate=False,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        server = _QuietServer(config)
        self.listening = Listening(self.settings.host, sock.getsockname()[1])
        with sock:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve, [sock])
                with anyio.fail_after(30):
                    while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
                        await anyio.sleep(0.01)
                task_status.started(self.listening)
                try:
                    await anyio.sleep_forever()
                finally:
                    server.should_exit = True
                    # Cancellation skips uvicorn's own shutdown. Stop listening here, or the
                    # event loop keeps a stale registration for the socket's fd after it closes,
                    # and a later listener that reuses that fd never accepts (a hub restarted in
                    # the same process hangs).
                    for listener in server.servers:
                        listener.close()
                    for connection in list(server.server_state.connections):
                        connection.shutdown()


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns signals and shuts the hub down in order."""

    def install_signal_handlers(self) -> None:
        return None

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
