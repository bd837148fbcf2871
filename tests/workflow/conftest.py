"""An in-process workflow engine on a real store, with a real supervisor running real test MCP servers.

Server processes take about two seconds to start and one to stop, so a module shares one fleet
(``fleet``: a supervisor with echo, slow, flaky and recorder servers), while every test gets its own
engine on its own store (``workflow_rig``, on ``store_url``: SQLite and PostgreSQL). A test that needs
a server to itself (a counter, a marker directory) starts it with ``Rig.serve``; it is stopped when the
engine is. Nothing of the engine is replaced: only ``sleep`` (the wait between retries) may be injected.

A module that uses ``fleet`` overrides ``anyio_backend`` with module scope.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
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
from corral.registry.models import ServerSpec
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.supervisor import Supervisor
from corral.workflow.engine import WorkflowEngine
from corral.workflow.step_calls import StepCalls
from corral.workflow.store import WorkflowStore
from tests.support import HubProcess, launch_hub, server_entry

Sleep = Callable[[float], Awaitable[None]]
RigFactory = Callable[..., AbstractAsyncContextManager["Rig"]]

FAST = {
    "ping_interval_s": 0.2,
    "ping_timeout_s": 2.0,
    "restart_initial_s": 0.1,
    "restart_max_s": 0.5,
    "cooldown_s": 0.5,
    "failure_threshold": 3,
    "crash_limit": 3,
}
WITHIN = 30.0


def workflow(workflow_id: str, *steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A definition document, as people send it."""
    return {"workflow_id": workflow_id, "name": workflow_id.replace("-", " "), "steps": list(steps), **fields}


async def next_event(
    events: MemoryObjectReceiveStream[Event], match: Callable[[Event], bool], within: float = WITHIN
) -> Event:
    """The next bus event that matches; fails the test when none comes ``within`` seconds."""
    with anyio.fail_after(within):
        async for event in events:
            if match(event):
                return event
    raise AssertionError("the event stream ended")


@dataclass
class Fleet:
    supervisor: Supervisor
    bus: EventBus
    record_file: Path

    async def serve(self, servers: dict[str, dict[str, Any]], within: float = WITHIN) -> None:
        """Start these servers and wait until each serves with its tools listed."""
        async with self.bus.subscribe(buffer=100_000) as events:
            for name, entry in servers.items():
                self.supervisor.apply(ServerSpec.from_client_entry(name, entry))
            runners = [self.supervisor.runner(name) for name in servers]
            with anyio.fail_after(within):
                while not all(
                    runner.state.status.serving and runner.state.catalog.tools for runner in runners
                ):
                    await events.receive()


@asynccontextmanager
async def open_fleet(directory: Path, servers: dict[str, dict[str, Any]]) -> AsyncIterator[Fleet]:
    """A running supervisor (its settings in SQLite under ``directory``) with ``servers`` serving."""
    database = open_database(f"sqlite+aiosqlite:///{directory / 'fleet.db'}")
    try:
        await upgrade(database)
        clock = SystemClock()
        bus = EventBus(clock)
        live = LiveSettings(SettingStore(database), clock)
        await live.load(FAST)
        supervisor = Supervisor(live, bus, clock)
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            fleet = Fleet(supervisor, bus, directory / "records.jsonl")
            await fleet.serve(servers)
            yield fleet
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await database.close()


@dataclass
class Rig:
    engine: WorkflowEngine
    store: WorkflowStore
    fleet: Fleet
    events: MemoryObjectReceiveStream[Event]
    added: list[str] = field(default_factory=list)

    @property
    def supervisor(self) -> Supervisor:
        return self.fleet.supervisor

    async def serve(self, servers: dict[str, dict[str, Any]]) -> None:
        """Start servers for this test only; they stop with the rig."""
        self.added.extend(servers)
        await self.fleet.serve(servers)

    async def next_event(self, match: Callable[[Event], bool], within: float = WITHIN) -> Event:
        return await next_event(self.events, match, within)

    async def execution_event(self, execution_id: str, *types: str, within: float = WITHIN) -> Event:
        return await self.next_event(
            lambda event: (
                event.topic == "executions" and event.subject == execution_id and event.type in types
            ),
            within,
        )

    async def start(self, document: dict[str, Any], params: dict[str, Any] | None = None) -> str:
        """Store the definition (it must be valid) and start an execution of it."""
        stored, _ = await self.engine.create(document)
        return await self.engine.execute(stored.definition.workflow_id, params)

    async def finish(self, execution_id: str, within: float = WITHIN) -> dict[str, Any]:
        """Wait for the execution to end; its status as ``get_workflow_status`` shows it."""
        with anyio.fail_after(within):
            await self.engine.wait_finished(execution_id)
        return await self.engine.status(execution_id)

    async def run(self, document: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.finish(await self.start(document, params))

    async def events_of(self, execution_id: str) -> list[dict[str, Any]]:
        return await self.engine.events(execution_id)


@asynccontextmanager
async def open_engine(fleet: Fleet, store_url: str, *, sleep: Sleep | None = None) -> AsyncIterator[Rig]:
    """A running engine and audit log on ``store_url`` (migrated here), calling tools through ``fleet``."""
    database = open_database(store_url)
    rig: Rig | None = None
    try:
        await upgrade(database)
        clock = SystemClock()
        audit = AuditLog(AuditStore(database))
        store = WorkflowStore(database)
        tools = StepCalls(CallPath(fleet.supervisor, CallMetrics(), audit, clock))
        engine = (
            WorkflowEngine(store, fleet.supervisor, tools, fleet.bus, clock)
            if sleep is None
            else WorkflowEngine(store, fleet.supervisor, tools, fleet.bus, clock, sleep=sleep)
        )
        async with anyio.create_task_group() as tg, fleet.bus.subscribe(buffer=100_000) as events:
            await tg.start(audit.run)
            await tg.start(engine.run)
            rig = Rig(engine, store, fleet, events)
            yield rig
            tg.cancel_scope.cancel()
    finally:
        for name in rig.added if rig else []:
            fleet.supervisor.forget(name)
        with anyio.CancelScope(shield=True):
            await database.close()


FLEET = {
    "echo": server_entry("echo"),
    "slow": server_entry("slow"),
    "flaky": server_entry("flaky"),
}


@pytest.fixture(scope="module")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fleet]:
    """echo, slow, flaky (its calls counted across the module) and rec (the recorder, on ``record_file``)."""
    directory = tmp_path_factory.mktemp("fleet")
    servers = {**FLEET, "rec": server_entry("recorder", RECORDER_FILE=str(directory / "records.jsonl"))}
    async with open_fleet(directory, servers) as running:
        yield running


@pytest.fixture
def workflow_rig(store_url: str, fleet: Fleet) -> RigFactory:
    """``async with workflow_rig() as rig:`` an engine of its own, on SQLite and on PostgreSQL."""

    def start(*, sleep: Sleep | None = None) -> AbstractAsyncContextManager[Rig]:
        return open_engine(fleet, store_url, sleep=sleep)

    return start


# -- real hub processes, for crash tests ------------------------------------------------------------


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a test server appended to ``path`` (none while it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def execution(hub: HubProcess, execution_id: str) -> dict[str, Any]:
    response = hub.get(f"/api/v1/executions/{execution_id}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def launch() -> Iterator[Callable[[Path, dict[str, Any]], HubProcess]]:
    """``launch_hub``, with every hub it started stopped at the end even when the test fails."""
    started: list[HubProcess] = []

    def start(directory: Path, config: dict[str, Any]) -> HubProcess:
        hub = launch_hub(directory, config)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        if hub.process.poll() is None:
            hub.stop()
