"""An in-process patterns service on a real store, with a real supervisor running real test MCP servers.

Nothing is replaced: the workflow engine calls the hub actions and the servers' tools through the real
``StepCalls``, the runners talk to the server subprocesses, and the store is SQLite (and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from corral.audit.log import AuditLog
from corral.audit.store import AuditStore
from corral.calls.metrics import CallMetrics
from corral.calls.path import CallPath
from corral.clock import SystemClock
from corral.db.engine import open_database
from corral.db.migrate import upgrade
from corral.events.bus import EventBus
from corral.events.models import Event
from corral.patterns.actions import ServerActions
from corral.patterns.applications import PatternService
from corral.patterns.library import PatternLibrary
from corral.patterns.store import ApplicationStore
from corral.registry.models import ServerSpec
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.supervisor import Supervisor
from corral.workflow.engine import WorkflowEngine
from corral.workflow.step_calls import StepCalls
from corral.workflow.store import WorkflowStore

FAST = {
    "ping_interval_s": 0.5,
    "restart_initial_s": 0.1,
    "restart_max_s": 0.5,
    "cooldown_s": 30,
    "crash_limit": 3,
}
WITHIN = 30.0


@dataclass
class Rig:
    service: PatternService
    engine: WorkflowEngine
    supervisor: Supervisor
    store: ApplicationStore
    metrics: CallMetrics
    bus: EventBus
    events: MemoryObjectReceiveStream[Event]

    async def serve(self, servers: dict[str, dict[str, Any]], within: float = WITHIN) -> None:
        """Start these servers and wait until each serves with its tools listed."""
        for name, entry in servers.items():
            self.supervisor.apply(ServerSpec.from_client_entry(name, entry))
        runners = [self.supervisor.runner(name) for name in servers]
        with anyio.fail_after(within):
            while not all(runner.state.status.serving and runner.state.catalog.tools for runner in runners):
                await self.events.receive()

    async def wait_status(self, name: str, status: str, within: float = WITHIN) -> None:
        runner = self.supervisor.runner(name)
        with anyio.fail_after(within):
            while runner.state.status.value != status:
                await self.events.receive()

    async def run_steps(self, *steps: dict[str, Any], workflow_id: str = "probe") -> dict[str, Any]:
        """Run a workflow of these steps to its end; its status as the engine shows it."""
        stored, _ = await self.engine.create(
            {"workflow_id": workflow_id, "name": workflow_id, "steps": list(steps)}
        )
        execution_id = await self.engine.execute(stored.definition.workflow_id)
        with anyio.fail_after(WITHIN):
            await self.engine.wait_finished(execution_id)
        return await self.engine.status(execution_id)


@asynccontextmanager
async def open_rig(store_url: str, servers: dict[str, dict[str, Any]]) -> AsyncIterator[Rig]:
    """A running patterns service, engine, supervisor and audit log on ``store_url``, ``servers`` serving."""
    database = open_database(store_url)
    try:
        await upgrade(database)
        clock = SystemClock()
        bus = EventBus(clock)
        live = LiveSettings(SettingStore(database), clock)
        await live.load(FAST)
        supervisor = Supervisor(live, bus, clock)
        audit = AuditLog(AuditStore(database))
        metrics = CallMetrics()
        tools = StepCalls(CallPath(supervisor, metrics, audit, clock), ServerActions(supervisor, bus))
        engine = WorkflowEngine(WorkflowStore(database), supervisor, tools, bus, clock)
        store = ApplicationStore(database)
        service = PatternService(PatternLibrary.load(), store, engine, supervisor, bus, clock)
        async with anyio.create_task_group() as tg, bus.subscribe(buffer=100_000) as events:
            await tg.start(audit.run)
            await tg.start(supervisor.run)
            await tg.start(engine.run)
            await tg.start(service.run)
            rig = Rig(service, engine, supervisor, store, metrics, bus, events)
            await rig.serve(servers)
            yield rig
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await database.close()


RigFactory = Callable[..., AbstractAsyncContextManager[Rig]]


@pytest.fixture
def pattern_rig(tmp_path: Path) -> RigFactory:
    """``async with pattern_rig({"echo": server_entry("echo")}) as rig:`` on SQLite, or on ``store_url=``."""

    def start(
        servers: dict[str, dict[str, Any]], store_url: str | None = None
    ) -> AbstractAsyncContextManager[Rig]:
        return open_rig(store_url or f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", servers)

    return start
