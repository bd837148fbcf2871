"""A real hub in process (store, supervisor, uvicorn on an ephemeral port) and real WebSocket clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from corral.app import Hub
from corral.config.file import ConfigFile
from corral.config.settings import EventStreamSettings, Settings
from corral.events.store import EventStore
from corral.registry.models import ServerSpec
from tests.support import wait_until

# Long enough that no test sees a ping, an idle close or a metrics tick unless it asks for one.
QUIET = {"ping_interval_s": 300.0, "idle_timeout_s": 600.0, "metrics_interval_s": 300.0}


@dataclass
class StreamHub:
    hub: Hub
    url: str
    token: str | None

    def ws_url(self, **params: Any) -> str:
        query = urlencode({key: value for key, value in params.items() if value is not None})
        return self.url.replace("http://", "ws://") + "/ws/events" + (f"?{query}" if query else "")

    def connect(
        self, *, token: str | None = "", via: str = "subprotocol", max_queue: int | None = 1000, **params: Any
    ) -> connect:
        """A client of /ws/events; ``token=""`` means the hub's admin token, None means none."""
        token = self.token if token == "" else token
        subprotocols: list[Any] | None = None
        if token is not None and via == "subprotocol":
            subprotocols = ["bearer", token]
        elif token is not None:
            params["token"] = token
        return connect(
            self.ws_url(**params),
            subprotocols=subprotocols,
            proxy=None,
            compression=None,
            max_queue=max_queue,
            open_timeout=10,
            close_timeout=5,
        )

    def publish(self, n: int, topic: str = "metrics", subject: str = "test") -> list[int]:
        """Publish ``n`` events on the hub's own bus (as any component would); their ids."""
        return [self.hub.bus.publish(topic, "test.event", subject, {"n": i}).id for i in range(n)]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Poll ``predicate`` (bounded, in a worker thread) while the hub goes on in this event loop."""
        await anyio.to_thread.run_sync(wait_until, predicate)

    async def stored_ids(self, after: int = 0) -> list[int]:
        page = await EventStore(self.hub.database).page(after, 2**62, None, 1_000_000)
        return [event.id for event in page]


async def receive(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    with anyio.fail_after(within):
        message = json.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def receive_events(
    ws: ClientConnection, count: int, within: float = 10.0, type: str | None = "test.event"
) -> list[dict[str, Any]]:
    """The next ``count`` events of ``type`` (any type when None); other messages are skipped."""
    events: list[dict[str, Any]] = []
    with anyio.fail_after(within):
        while len(events) < count:
            message = await receive(ws, within)
            if "id" in message and (type is None or message["type"] == type):
                events.append(message)
    return events


async def closed_with(ws: ClientConnection, within: float = 10.0) -> tuple[int, str, list[str]]:
    """Read until the hub closes the socket; its close code, reason, and the messages before it."""
    seen: list[str] = []
    with anyio.fail_after(within):
        try:
            while True:
                message = await ws.recv()
                seen.append(message if isinstance(message, str) else message.decode())
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, f"no close frame from the hub: {closed!r}"
            return closed.rcvd.code, closed.rcvd.reason, seen


RunStreamHub = Callable[..., AbstractAsyncContextManager[StreamHub]]


@pytest.fixture
def stream_hub(tmp_path: Path) -> RunStreamHub:
    """``async with stream_hub(servers, **event_settings) as running:``; a second one is a restart."""

    @asynccontextmanager
    async def run(
        servers: dict[str, dict[str, Any]] | None = None, *, store_url: str | None = None, **events: Any
    ) -> AsyncIterator[StreamHub]:
        specs = tuple(ServerSpec.from_client_entry(name, entry) for name, entry in (servers or {}).items())
        settings = Settings(
            data_dir=tmp_path / "data",
            port=0,
            database_url=store_url,
            events=EventStreamSettings(**{**QUIET, **events}),
        )
        hub = Hub(settings, ConfigFile(path=None, servers=specs))
        async with anyio.create_task_group() as tg:
            listening = await tg.start(hub.run)
            yield StreamHub(hub, listening.url, hub.admin_token)
            tg.cancel_scope.cancel()

    return run
