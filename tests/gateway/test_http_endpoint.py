"""The aggregated /mcp endpoint over Streamable HTTP, driven by the official SDK client."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from tests.gateway.clients import ToolListChanges, mcp_client, text
from tests.support import HubProcess, server_entry, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess], marker_dir: Path) -> HubProcess:
    return module_hub(
        {
            "mcpServers": {
                "echo": server_entry("echo"),
                "slow": server_entry("slow", CORRAL_TEST_MARKER_DIR=str(marker_dir)),
                "parked": {**server_entry("echo"), "disabled": True},
            },
            "settings": {"ping_interval_s": 0.5},
        }
    )


async def test_tools_of_every_enabled_server_are_listed_under_namespaced_names(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"echo__echo", "echo__add", "slow__slow", "slow__sleep"} <= names
    assert {"manage_servers", "get_system_health"} <= names
    assert not any(name.startswith("parked__") for name in names), "a disabled server's tools are not listed"


async def test_every_listed_tool_has_a_description_and_its_schema_unchanged(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert all(tool.description for tool in tools.values())
    upstream_schema = hub.server("echo")["tools"]
    echo = next(tool for tool in upstream_schema if tool["name"] == "echo")
    assert tools["echo__echo"].input_schema == echo["inputSchema"]


async def test_calls_reach_the_upstream_and_its_result_comes_back_unchanged(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        result = await client.call_tool("echo__add", {"a": 2, "b": 40})
    assert not result.is_error
    assert result.structured_content == {"result": 42.0}


async def test_progress_notifications_are_relayed_to_the_caller(hub: HubProcess) -> None:
    seen: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    async with mcp_client(hub) as client:
        result = await client.call_tool("slow__slow", {"steps": 4, "delay": 0.01}, progress_callback=progress)
    assert text(result) == "done after 4 steps"
    assert seen == [1, 2, 3, 4]


async def test_cancelling_a_call_cancels_it_upstream(hub: HubProcess, marker_dir: Path) -> None:
    marker = marker_dir / "cancelled-sleep"
    async with mcp_client(hub) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("slow__sleep", {"seconds": 30})
        with anyio.fail_after(10):
            while not marker.exists():  # noqa: ASYNC110 - written by the upstream process
                await anyio.sleep(0.02)
        # The session and the upstream both carry on.
        assert text(await client.call_tool("echo__echo", {"text": "still here"})) == "still here"


async def test_unknown_tool_is_a_clear_protocol_error(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        with pytest.raises(MCPError, match="Unknown tool: nope__missing") as caught:
            await client.call_tool("nope__missing", {})
        assert caught.value.code == types.INVALID_PARAMS


async def test_wrong_argument_types_are_a_tool_error_naming_the_field(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        result = await client.call_tool("echo__add", {"a": "two", "b": 3})
        assert result.is_error
        assert "a: 'two' is not of type 'number'" in text(result)
        missing = await client.call_tool("echo__echo", {})
        assert missing.is_error
        assert "'text' is a required property" in text(missing)


async def test_management_tools_answer_with_structured_content(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        health = await client.call_tool("get_system_health", {})
        listing = await client.call_tool("manage_servers", {"action": "list"})
        bad = await client.call_tool("manage_servers", {"action": "restart"})
    assert health.structured_content is not None
    assert health.structured_content["servers"]["disabled"] == 1
    assert listing.structured_content is not None
    assert {server["name"] for server in listing.structured_content["servers"]} == {"echo", "slow", "parked"}
    assert bad.is_error
    assert "needs the server's 'name'" in text(bad)


async def test_per_server_endpoint_exposes_original_names(hub: HubProcess) -> None:
    async with mcp_client(hub, "/servers/echo/mcp") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("echo", {"text": "plain"})
    assert names == {"echo", "add", "request_meta"}
    assert text(result) == "plain"


def test_per_server_endpoint_of_an_unknown_server_is_404(hub: HubProcess) -> None:
    response = hub.post(
        "/servers/ghost/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 404
    assert "ghost" in response.json()["error"]["message"]


def test_tool_calls_are_audited_with_their_arguments(hub: HubProcess) -> None:
    def audited() -> Any:
        import sqlite3

        with sqlite3.connect(hub.data_dir / "corral.db") as db:
            query = "select actor, action, target, outcome, duration_ms, detail from audit where target = ?"
            return db.execute(query, ("echo/add",)).fetchall()

    rows = wait_until(audited)
    actor, action, target, outcome, duration_ms, detail = rows[0]
    assert (actor, action, target) == ("admin", "tool.call", "echo/add")
    assert outcome in ("ok", "invalid_arguments")
    assert duration_ms >= 0
    assert set(json.loads(detail)) == {"arguments"}, "kept so that the caller can replay the call"


async def test_clients_hear_when_a_server_goes_away_and_comes_back(hub: HubProcess) -> None:
    announced = ToolListChanges()
    async with mcp_client(hub, message_handler=announced.handle) as client:

        async def echo_listed() -> bool:
            return "echo__echo" in {tool.name for tool in (await client.list_tools()).tools}

        os.kill(hub.server("echo")["pid"], signal.SIGKILL)
        with anyio.fail_after(10):
            while await echo_listed():
                await announced.next()
        with anyio.fail_after(15):
            while not await echo_listed():
                await announced.next()
        # Under load the hub may see the restart as one change; clients are told at least once.
        assert announced.count >= 1
        assert text(await client.call_tool("echo__echo", {"text": "back"})) == "back"
