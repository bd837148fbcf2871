"""Upstream sessions: shared by every client by default, one per client for stateful servers."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import psutil
import pytest

from tests.gateway.clients import mcp_client
from tests.support import HubProcess, server_entry

pytestmark = pytest.mark.anyio


async def increments(client: object, times: int) -> list[int]:
    return [
        (await client.call_tool("counter__increment", {})).structured_content["result"]  # type: ignore[attr-defined]
        for _ in range(times)
    ]


async def test_clients_share_one_upstream_session_by_default(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"counter": server_entry("stateful")}})
    async with mcp_client(hub) as first, mcp_client(hub) as second:
        assert await increments(first, 2) == [1, 2]
        assert await increments(second, 1) == [3]


async def test_a_per_client_server_gives_each_client_its_own_session(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"counter": {**server_entry("stateful"), "session": "per_client"}}})
    async with mcp_client(hub) as first:
        async with mcp_client(hub) as second:
            assert await increments(first, 3) == [1, 2, 3]
            assert await increments(second, 2) == [1, 2]
            first_pid = (await first.call_tool("counter__whoami", {})).structured_content["result"]  # type: ignore[index]
            second_pid = (await second.call_tool("counter__whoami", {})).structured_content["result"]  # type: ignore[index]
            assert first_pid != second_pid
            assert hub.server("counter")["pid"] not in (first_pid, second_pid)
        # The second client left: its upstream session (here, its process) is closed.
        with anyio.fail_after(10):
            while (  # noqa: ASYNC110 - the process table has no event to wait on
                psutil.pid_exists(second_pid) and psutil.Process(second_pid).status() != psutil.STATUS_ZOMBIE
            ):
                await anyio.sleep(0.05)
        assert await increments(first, 1) == [4]


async def test_stateless_mode_serves_every_request_without_a_session(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}}, "--mcp-stateless")
    response = hub.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    async with mcp_client(hub) as client:
        result = await client.call_tool("echo__echo", {"text": "no session"})
    assert result.structured_content == {"result": "no session"}
