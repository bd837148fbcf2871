"""Nodes through a real nats-server and real ``corral node`` processes: one that dies is noticed within
seconds, its servers shown disconnected with the reason, its task finished once on another node; tasks
and workflow steps that name target machines run there."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.cluster.conftest import StartNode
from tests.cluster.nats_rig import NatsServer
from tests.rig import RunHub, RunningHub
from tests.support import HubProcess, server_entry, wait_until
from tests.tasks.conftest import worker_entry
from tests.tasks.test_workflow_steps import run_workflow

pytestmark = pytest.mark.slow

CLUSTER = {"heartbeat_interval_s": 0.5, "node_ttl_s": 2}


def agent(name: str) -> dict[str, Any]:
    return {**server_entry(name), "agent": {"capabilities": ["slow-work"], "max_concurrent": 1}}


def test_a_killed_node_is_noticed_within_three_seconds_and_its_servers_show_disconnected(
    start_hub: Callable[..., HubProcess], nats_server: NatsServer, start_node: StartNode
) -> None:
    hub = start_hub({"hub": {"cluster": CLUSTER}}, "--nats", nats_server.url)
    node = start_node("lab", {"slow": server_entry("slow")})
    wait_until(lambda: hub.get("/api/v1/servers/lab.slow").status_code == 200, timeout=30)
    served = hub.wait_status("lab.slow", "healthy", timeout=30)
    assert served["node"] == "lab" and served["source"] == "node"

    node.kill()
    killed = time.monotonic()
    gone = hub.wait_status("lab.slow", "disconnected", timeout=10)
    noticed = time.monotonic() - killed

    assert noticed < 3.0, f"noticed {noticed:.2f}s after the kill"
    assert gone["detail"] == "node lab lost: no heartbeat for 2s"
    lab = hub.get("/api/v1/nodes/lab").json()
    assert lab["alive"] is False and lab["lost_reason"] == "no heartbeat for 2s"
    listed = hub.get("/api/v1/servers").json()["items"]
    assert [(item["name"], item["status"]) for item in listed] == [("lab.slow", "disconnected")]


@pytest.mark.anyio
async def test_a_task_on_a_killed_node_completes_once_on_another_node(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    nodes = {name: start_node(name, {"slow": agent("slow")}) for name in ("a", "b")}
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await agents_serving(running, "a/slow", "b/slow")
        submitted = await running.client.post(
            "/api/v1/tasks", json={"tool": "slow", "arguments": {"steps": 20, "delay": 0.1}}
        )
        assert submitted.status_code == 201, submitted.text
        task_id = submitted.json()["id"]

        first = await running.wait_async(lambda: progressed(running, task_id), within_s=30)
        victim = first.split("/")[0]
        nodes[victim].kill()
        killed = datetime.now(UTC)

        async def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (await running.client.get(f"/api/v1/tasks/{task_id}")).json()
            return body if body["state"] in ("completed", "failed", "cancelled") else None

        task = await running.wait_async(finished, within_s=30)

    survivor = "b" if victim == "a" else "a"
    assert task["state"] == "completed", task
    assert task["agent"] == f"{survivor}/slow"
    assert task["result"] == "done after 20 steps"
    attempts = task["attempts"]
    assert [(item["number"], item["agent"], item["state"]) for item in attempts] == [
        (1, f"{victim}/slow", "failed"),
        (2, f"{survivor}/slow", "completed"),
    ]
    assert attempts[0]["error"] == f"node {victim!r} was lost during 'slow': no heartbeat for 2s"
    restarted = datetime.fromisoformat(attempts[1]["started_at"])
    assert (restarted - killed).total_seconds() < 5.0


async def agents_serving(running: RunningHub, *agents: str) -> None:
    async def ready() -> bool:
        listed = (await running.client.get("/api/v1/agents")).json()["items"]
        serving = {item["id"] for item in listed if item["status"] == "healthy"}
        return set(agents) <= serving

    await running.wait_async(ready)


async def progressed(running: RunningHub, task_id: str) -> str | None:
    """The agent of the task's running attempt, once its server reported progress (the call runs there)."""
    body = (await running.client.get(f"/api/v1/tasks/{task_id}")).json()
    agent: str | None = body.get("agent")
    if body["state"] != "running" or agent is None:
        return None
    server = running.hub.supervisor.runner(agent.replace("/", ".", 1))
    return agent if server.state.calls_in_flight else None


@pytest.mark.anyio
async def test_a_workflow_whose_steps_name_different_target_machines_runs_each_step_on_its_node(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    for name in ("a", "b"):
        start_node(name, {"worker": worker_entry(f"worker-on-{name}", record)})
    workflow = {
        "workflow_id": "two-machines",
        "name": "Build on a, check on b what a built",
        "steps": [
            {"id": "build", "tool": "work", "target_machines": ["a"], "args": {"label": "built"}},
            {
                "id": "check",
                "tool": "work",
                "target_machines": ["b"],
                "args": {"label": "{{ steps.build.result.worker }}"},
                "dependencies": ["build"],
            },
        ],
    }
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await agents_serving(running, "a/worker", "b/worker")
        final = await run_workflow(running, workflow)
        tasks = (await running.client.get("/api/v1/tasks")).json()["items"]

    assert final["status"] == "completed", final
    results = {step["key"]: step["result"] for step in final["steps"]}
    assert results == {
        "build": {"worker": "worker-on-a", "label": "built"},
        "check": {"worker": "worker-on-b", "label": "worker-on-a"},
    }
    assert sorted(task["agent"] for task in tasks) == ["a/worker", "b/worker"]


@pytest.mark.anyio
async def test_a_node_frozen_past_its_ttl_has_its_call_cancelled_and_serves_again_once_thawed(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    nodes = {name: start_node(name, {"slow": agent("slow")}) for name in ("a", "b")}
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await agents_serving(running, "a/slow", "b/slow")
        submitted = await running.client.post(
            "/api/v1/tasks", json={"tool": "slow", "arguments": {"steps": 20, "delay": 0.1}}
        )
        task_id = submitted.json()["id"]
        first = await running.wait_async(lambda: progressed(running, task_id), within_s=30)
        frozen = nodes[first.split("/")[0]]
        frozen.freeze()

        async def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (await running.client.get(f"/api/v1/tasks/{task_id}")).json()
            return body if body["state"] == "completed" else None

        task = await running.wait_async(finished, within_s=30)
        frozen.thaw()
        server = running.hub.supervisor.runner(f"{frozen.name}.slow")
        # Thawed, the node finds the hub's order to cancel the call it held (sent when the hub stopped
        # waiting for it); had the call finished first, its outcome would be dropped, nothing waiting.
        await running.wait_async(
            lambda: server.state.status.serving and server.state.calls_in_flight == 0, within_s=15
        )
        await anyio.to_thread.run_sync(
            lambda: wait_until(lambda: "cancelled by the hub" in frozen.log(), timeout=10)
        )
        again = (await running.client.get(f"/api/v1/tasks/{task_id}")).json()
        node = (await running.client.get(f"/api/v1/nodes/{frozen.name}")).json()

    assert [(item["agent"], item["state"]) for item in task["attempts"]] == [
        (first, "failed"),
        (task["agent"], "completed"),
    ]
    assert task["agent"] != first
    assert again["attempts"] == task["attempts"] and again["result"] == task["result"]
    assert node["alive"] is True and node["lost_reason"] is None


@pytest.mark.anyio
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_tasks_running_while_nats_restarts_all_complete(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode, sig: int
) -> None:
    start_node("a", {"slow": agent("slow")})
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await agents_serving(running, "a/slow")
        ids = []
        for _ in range(3):
            submitted = await running.client.post(
                "/api/v1/tasks", json={"tool": "slow", "arguments": {"steps": 10, "delay": 0.1}}
            )
            ids.append(submitted.json()["id"])
        await running.wait_async(lambda: progressed(running, ids[0]), within_s=30)
        await anyio.to_thread.run_sync(nats_server.restart, sig)

        async def all_finished() -> list[dict[str, Any]] | None:
            tasks = [(await running.client.get(f"/api/v1/tasks/{task_id}")).json() for task_id in ids]
            return tasks if all(task["state"] in ("completed", "failed") for task in tasks) else None

        tasks = await running.wait_async(all_finished, within_s=60)

    assert [(task["state"], task["result"]) for task in tasks] == [("completed", "done after 10 steps")] * 3


@pytest.mark.anyio
async def test_a_task_that_kills_every_node_it_runs_on_fails_after_its_attempts_and_says_why(
    run_hub: RunHub, nats_server: NatsServer, start_node: StartNode
) -> None:
    doomed = {**server_entry("crashing"), "agent": {"capabilities": ["doom"], "max_concurrent": 1}}
    nodes = {name: start_node(name, {"crashing": doomed}) for name in ("a", "b")}
    async with run_hub(nats_url=nats_server.url, cluster=CLUSTER) as running:
        await agents_serving(running, "a/crashing", "b/crashing")
        submitted = await running.client.post(
            "/api/v1/tasks", json={"tool": "kill_parent", "retry": {"attempts": 2}, "on_uncertain": "fail"}
        )
        task_id = submitted.json()["id"]

        async def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (await running.client.get(f"/api/v1/tasks/{task_id}")).json()
            return body if body["state"] in ("completed", "failed") else None

        task = await running.wait_async(finished, within_s=40)

    assert (task["state"], task["is_error"]) == ("failed", True)
    attempts = [(item["agent"].split("/")[0], item["state"], item["error"]) for item in task["attempts"]]
    assert sorted(attempts) == [
        (name, "failed", f"node {name!r} was lost during 'kill_parent': no heartbeat for 2s")
        for name in ("a", "b")
    ]
    assert task["error"] == attempts[-1][2]
    assert all(node.process.wait(10) == -signal.SIGKILL for node in nodes.values())
