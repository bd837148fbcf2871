"""A real hub in process: store, supervisor, real MCP server processes and uvicorn on an ephemeral port."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from corral.app import Hub
from corral.config.file import ConfigFile
from corral.config.settings import Settings
from corral.registry.models import ServerSpec
from corral.supervisor.state import ServerStatus
from tests.support import wait_until


@dataclass
class RunningHub:
    hub: Hub
    url: str
    data_dir: Path
    client: httpx.AsyncClient
    """Sends the admin token (none when the hub runs without authentication)."""

    def anonymous(self) -> httpx.AsyncClient:
        """A client that sends no token."""
        return httpx.AsyncClient(base_url=self.url, timeout=10)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Poll ``predicate`` (bounded, in a worker thread) while the hub goes on in this event loop."""
        await anyio.to_thread.run_sync(wait_until, predicate)

    async def wait_async(self, predicate: Callable[[], Any], within_s: float = 30.0) -> Any:
        """Poll ``predicate`` (plain, or returning an awaitable) in this event loop until it gives
        something truthy, and return that; bounded by ``within_s``."""
        with anyio.fail_after(within_s):
            while True:
                value = predicate()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await anyio.sleep(0.02)

    async def wait_status(self, name: str, status: ServerStatus, *, restarts: int | None = None) -> None:
        def reached() -> bool:
            state = self.hub.supervisor.runner(name).state
            return state.status is status and (restarts is None or state.restarts == restarts)

        await self.wait_for(reached)


RunHub = Callable[..., AbstractAsyncContextManager[RunningHub]]
"""``run_hub(servers=None, **settings)``: an ``mcpServers`` map (and hub settings) in, a running hub
for the ``async with`` block."""


def hub_runner(tmp_path: Path) -> RunHub:
    """``async with run_hub({"echo": server_entry("echo")}) as running:`` — a hub until the block ends."""

    @asynccontextmanager
    async def run(
        servers: dict[str, dict[str, Any]] | None = None, **settings: Any
    ) -> AsyncIterator[RunningHub]:
        # The same for each hub of a test unless given: a second one is a restart.
        data_dir: Path = settings.pop("data_dir", tmp_path / "data")
        specs = tuple(ServerSpec.from_client_entry(name, entry) for name, entry in (servers or {}).items())
        hub = Hub(Settings(data_dir=data_dir, port=0, **settings), ConfigFile(path=None, servers=specs))
        async with anyio.create_task_group() as tg:
            listening = await tg.start(hub.run)
            headers = {"Authorization": f"Bearer {hub.admin_token}"} if hub.admin_token else {}
            async with httpx.AsyncClient(base_url=listening.url, headers=headers, timeout=10) as client:
                yield RunningHub(hub, listening.url, data_dir, client)
            tg.cancel_scope.cancel()

    return run
