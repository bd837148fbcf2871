"""Servers on a real ``corral node``, reached through a hub over a real nats-server: listed on ``/mcp``
and called there with progress and cancellation reaching both ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from corral.gateway.names import exposed_name
from tests.api.mcp_support import mcp_session
from tests.cluster.conftest import StartNode
from tests.cluster.nats_rig import NatsServer
from tests.rig import RunHub, RunningHub
from tests.support import server_entry, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLUSTER = {"heartbeat_interval_s": 0.5, "node_ttl_s": 2}


def text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def serving(running: RunningHub, server: str) -> Any:
    def ready() -> bool:
        try:
            return running.hub.supervisor.runner(server).state.status.serving
        except Exception:
            return False

    return await running.wait_async(ready)


async def test_a_tool_of_a_server_on_a_node_is_listed_and_called_through_mcp_with_progress(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    start_node("lab", {"slow": server_entry("slow")})
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await serving(running, "lab.slow")
        assert running.hub.admin_token is not None
        async with mcp_session(running, running.hub.admin_token) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            notes: list[tuple[float, float | None, str | None]] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                notes.append((done, total, message))

            result = await client.call_tool(
                exposed_name("lab.slow", "slow"), {"steps": 3, "delay": 0.05}, progress_callback=progress
            )
        nodes = (await running.client.get("/api/v1/nodes")).json()["items"]

    assert exposed_name("lab.slow", "slow") in names and exposed_name("lab.slow", "sleep") in names
    assert not result.is_error and text(result) == "done after 3 steps"
    assert notes == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
    lab = next(node for node in nodes if node["name"] == "lab")
    assert lab["builtin"] is False and lab["alive"] is True and lab["servers"] == ["lab.slow"]


async def test_cancelling_a_call_to_a_server_on_a_node_cancels_it_upstream(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    start_node("lab", {"slow": server_entry("slow", CORRAL_TEST_MARKER_DIR=str(markers))})
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await serving(running, "lab.slow")
        assert running.hub.admin_token is not None
        async with mcp_session(running, running.hub.admin_token) as client:
            started = anyio.Event()

            async def progress(done: float, total: float | None, message: str | None) -> None:
                started.set()

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:

                    async def call() -> None:
                        await client.call_tool(
                            exposed_name("lab.slow", "slow"),
                            {"steps": 600, "delay": 0.1},
                            progress_callback=progress,
                        )

                    tg.start_soon(call)
                    await started.wait()  # the server on the node works on it
                    tg.cancel_scope.cancel()
            await anyio.to_thread.run_sync(
                lambda: wait_until((markers / "cancelled-slow").exists, timeout=10)
            )
            after = await client.call_tool(exposed_name("lab.slow", "slow"), {"steps": 1, "delay": 0})
    assert text(after) == "done after 1 steps"
