"""Upstream failures as an MCP client of the hub sees them: clear tool errors, never a hang."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.gateway.clients import ToolListChanges, mcp_client, text
from tests.support import HttpTestServer, HubProcess, free_port, server_entry

pytestmark = pytest.mark.anyio


async def test_upstream_killed_mid_call_gives_a_clear_error_and_its_tools_come_back(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"slow": server_entry("slow")}, "settings": {"restart_initial_s": 0.2}})
    announced = ToolListChanges()
    async with mcp_client(hub, message_handler=announced.handle) as client:
        pid = hub.server("slow")["pid"]
        result = None
        reached_upstream = anyio.Event()

        async def progress(done: float, total: float | None, message: str | None) -> None:
            reached_upstream.set()

        async def call() -> None:
            nonlocal result
            result = await client.call_tool(
                "slow__slow", {"steps": 600, "delay": 0.1}, progress_callback=progress
            )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await reached_upstream.wait()  # the upstream is working on it: its first progress arrived
                os.kill(pid, signal.SIGKILL)
        assert result is not None and result.is_error
        assert "server 'slow' went away during 'slow'" in text(result)

        # Clients are told: the tools went and came back. The answer to a listing and the notification
        # travel on different streams, so the tools may be listed again before the notice arrives.
        with anyio.fail_after(20):
            while "slow__sleep" not in {tool.name for tool in (await client.list_tools()).tools}:
                await announced.next()
            while announced.count == 0:
                await announced.next()
        assert text(await client.call_tool("slow__slow", {"steps": 1, "delay": 0})) == "done after 1 steps"


async def test_a_call_to_a_server_with_an_open_circuit_fails_fast_naming_server_and_state(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub(
        {
            "mcpServers": {"hanging": server_entry("hanging")},
            "settings": {
                "ping_interval_s": 0.2,
                "ping_timeout_s": 0.2,
                "failure_threshold": 2,
                "cooldown_s": 60,
            },
        }
    )
    async with mcp_client(hub, "/servers/hanging/mcp") as client:
        hub.wait_status("hanging", "circuit_open")
        with anyio.fail_after(2):
            result = await client.call_tool("noop", {})
    assert result.is_error
    assert "server 'hanging' is unavailable: circuit open" in text(result)


async def test_a_call_past_the_servers_deadline_is_a_clear_error(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"slow": {**server_entry("slow"), "tool_timeouts": {"sleep": 0.5}}}})
    async with mcp_client(hub) as client:
        with anyio.fail_after(5):
            result = await client.call_tool("slow__sleep", {"seconds": 30})
        assert result.is_error
        assert "did not answer 'sleep' within 0.5s" in text(result)
        # Progress keeps a long call alive past the same deadline.
        slow = await client.call_tool("slow__slow", {"steps": 4, "delay": 0.3}, progress_callback=_ignore)
        assert text(slow) == "done after 4 steps"


async def _ignore(progress: float, total: float | None, message: str | None) -> None:
    return None


async def test_an_http_upstream_that_restarted_is_reinitialised_without_the_caller_noticing(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    port = free_port()
    upstream = HttpTestServer("echo", port, tmp_path)
    try:
        hub = start_hub(
            {"mcpServers": {"remote": {"type": "http", "url": f"http://127.0.0.1:{port}/mcp"}},
             "settings": {"ping_interval_s": 60}}
        )  # fmt: skip
        async with mcp_client(hub) as client:
            assert text(await client.call_tool("remote__echo", {"text": "before"})) == "before"
            upstream.restart()
            with anyio.fail_after(20):
                result = await client.call_tool("remote__echo", {"text": "after"})
            assert not result.is_error, text(result)
            assert text(result) == "after"
    finally:
        upstream.stop()
