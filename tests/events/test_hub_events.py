"""What the hub itself tells the stream: server status changes, metrics ticks, audit entries."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import ClientConnection

from tests.events.conftest import RunStreamHub, StreamHub, receive
from tests.support import server_entry

pytestmark = pytest.mark.anyio


async def next_event(ws: ClientConnection, type: str, within: float = 15.0, **data: Any) -> dict[str, Any]:
    """The next event of ``type`` whose data has the given values."""
    with anyio.fail_after(within):
        while True:
            message = await receive(ws, within)
            if message.get("type") == type and all(message["data"].get(k) == v for k, v in data.items()):
                return message


async def call_echo(running: StreamHub, text: str) -> None:
    assert await running.hub.wait_ready(30), "the echo server did not start"
    headers = {"Authorization": f"Bearer {running.token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(running.url + "/mcp", http_client=http), mode="legacy") as client,
    ):
        await client.call_tool("echo__echo", {"text": text})


async def test_a_killed_server_shows_up_as_a_status_event(stream_hub: RunStreamHub) -> None:
    async with (
        stream_hub({"echo": server_entry("echo")}) as running,
        running.connect(topics="servers:echo") as ws,
    ):
        snapshot = await receive(ws)
        if snapshot["servers"][0]["status"] != "healthy":
            await next_event(ws, "server.status", status="healthy")
        pid = running.hub.supervisor.runner("echo").state.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        down = await next_event(ws, "server.status", status="disconnected")
        back = await next_event(ws, "server.status", status="healthy")

    assert down["subject"] == "echo"
    assert down["id"] > snapshot["last_event_id"]
    assert back["id"] > down["id"]
    assert back["data"]["pid"] != pid


async def test_metrics_ticks_report_calls_through_the_hub(stream_hub: RunStreamHub) -> None:
    async with (
        stream_hub({"echo": server_entry("echo")}, metrics_interval_s=0.2) as running,
        running.connect(topics="metrics") as ws,
    ):
        snapshot = await receive(ws)
        await call_echo(running, "hello")
        tick = await next_event(ws, "metrics.tick", calls=1)

    assert snapshot["metrics"] is not None
    assert tick["topic"] == "metrics"
    assert tick["data"]["calls_per_s"] > 0
    assert tick["data"]["error_rate"] == 0.0
    assert tick["data"]["p95_ms"] > 0
    assert (tick["data"]["open_circuits"], tick["data"]["running_executions"]) == (0, 0)
    assert (tick["data"]["servers"], tick["data"]["servers_down"]) == ({"healthy": 1}, 0)


async def test_audit_entries_are_published_as_audit_events(stream_hub: RunStreamHub) -> None:
    async with (
        stream_hub({"echo": server_entry("echo")}) as running,
        running.connect(topics="audit") as ws,
    ):
        await receive(ws)
        await call_echo(running, "audited")
        entry = await next_event(ws, "audit.recorded", action="tool.call")

    assert entry["topic"] == "audit"
    assert entry["subject"] == "echo/echo"
    assert entry["data"]["outcome"] == "ok"
    assert entry["data"]["actor"] == "admin"
