"""A running supervisor on a real SQLite store, with real MCP server subprocesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from corral.clock import SystemClock
from corral.db.engine import open_database
from corral.db.migrate import upgrade
from corral.events.bus import EventBus
from corral.events.models import Event
from corral.registry.models import ServerSpec
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor

FAST = {
    "ping_interval_s": 0.2,
    "ping_timeout_s": 1.0,
    "restart_initial_s": 0.1,
    "restart_max_s": 0.5,
    "cooldown_s": 0.5,
    "failure_threshold": 3,
    "crash_limit": 3,
}


@dataclass
class Fleet:
    supervisor: Supervisor
    settings: LiveSettings
    events: MemoryObjectReceiveStream[Event]

    def add(self, name: str, entry: dict[str, Any]) -> ServerRunner:
        return self.supervisor.apply(ServerSpec.from_client_entry(name, entry))

    async def next_event(self, match: Callable[[Event], bool], within: float = 15.0) -> Event:
        """The next event that matches; fails the test when none comes ``within`` seconds."""
        with anyio.fail_after(within):
            async for event in self.events:
                if match(event):
                    return event
        raise AssertionError("the event stream ended")

    async def status(self, name: str, *statuses: str, within: float = 15.0) -> Event:
        runner = self.supervisor.runner(name)
        if runner.state.status.value in statuses:
            return Event(0, "servers", "server.status", name, SystemClock().now(), runner.state.to_json(0))
        return await self.next_event(
            lambda e: e.type == "server.status" and e.subject == name and e.data["status"] in statuses,
            within,
        )


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[Fleet]:
        database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        await upgrade(database)
        clock = SystemClock()
        bus = EventBus(clock)
        live = LiveSettings(SettingStore(database), clock)
        await live.load({**FAST, **settings})
        supervisor = Supervisor(live, bus, clock)
        try:
            async with anyio.create_task_group() as tg, bus.subscribe(buffer=10_000) as events:
                await tg.start(supervisor.run)
                yield Fleet(supervisor, live, events)
                tg.cancel_scope.cancel()
        finally:
            await database.close()

    return start
