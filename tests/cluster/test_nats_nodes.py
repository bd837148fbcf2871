"""What a real ``corral node`` tells a hub over a real nats-server: labels and inventory, and its leaving."""

from __future__ import annotations

import signal
from typing import Any

import anyio
import pytest

from corral.gateway.names import exposed_name
from tests.api.mcp_support import mcp_session
from tests.cluster.conftest import StartNode
from tests.cluster.nats_rig import NatsServer
from tests.cluster.test_nats_calls import CLUSTER, serving, text
from tests.rig import RunHub
from tests.support import server_entry

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_a_node_reports_its_labels_and_without_nvml_no_gpus_and_why(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    start_node("gpu-less", {}, "--label", "zone=lab", "--label", "rack=2")
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:

        async def reported() -> dict[str, Any] | None:
            answer = await running.client.get("/api/v1/nodes/gpu-less")
            return answer.json() if answer.status_code == 200 else None

        node = await running.wait_async(reported)
        by_label = (await running.client.get("/api/v1/nodes", params={"label": "zone=lab"})).json()["items"]

    assert node["builtin"] is False and node["alive"] is True
    assert node["labels"] == {"zone": "lab", "rack": "2"}
    inventory = node["inventory"]
    assert inventory["cpus"] >= 1 and inventory["memory_total_mib"] > 0
    assert inventory["gpus"]["gpus"] == []
    assert inventory["gpus"]["reason"].startswith("NVML unavailable: ")
    assert [item["name"] for item in by_label] == ["gpu-less"]


async def test_a_node_stopped_with_sigterm_finishes_the_call_it_holds_then_leaves_at_once(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    node = start_node("lab", {"slow": server_entry("slow")})
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await serving(running, "lab.slow")
        assert running.hub.admin_token is not None
        async with mcp_session(running, running.hub.admin_token) as client:
            started = anyio.Event()

            async def progress(done: float, total: float | None, message: str | None) -> None:
                started.set()

            result = None

            async def call() -> None:
                nonlocal result
                result = await client.call_tool(
                    exposed_name("lab.slow", "slow"), {"steps": 10, "delay": 0.1}, progress_callback=progress
                )

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    await started.wait()
                    node.process.send_signal(signal.SIGTERM)
        runner = running.hub.supervisor.runner("lab.slow")
        await running.wait_async(lambda: runner.state.status.value == "disconnected", within_s=1.5)

    assert result is not None and text(result) == "done after 10 steps"
    assert runner.state.detail == "node lab lost: it stopped"
    assert node.process.wait(10) == 0


async def test_restarting_a_server_of_a_node_through_the_api_restarts_it_on_its_node(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    start_node("lab", {"slow": server_entry("slow")})
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await serving(running, "lab.slow")
        runner = running.hub.supervisor.runner("lab.slow")
        before = runner.state.pid
        answer = await running.client.post("/api/v1/servers/lab.slow/restart")

        def restarted() -> bool:
            state = runner.state
            return state.restarts == 1 and state.status.serving and state.pid not in (None, before)

        await running.wait_async(restarted, within_s=20)
        shown = (await running.client.get("/api/v1/servers/lab.slow")).json()

    assert answer.status_code == 202
    assert before is not None
    assert (shown["node"], shown["source"], shown["restarts"], shown["pid"]) == (
        "lab",
        "node",
        1,
        runner.state.pid,
    )
