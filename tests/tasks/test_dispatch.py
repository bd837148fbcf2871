"""Tasks routed to real agents (worker servers over stdio) through a hub in process, over REST."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.rig import RunHub, RunningHub
from tests.tasks.conftest import notes, worker_entry

pytestmark = pytest.mark.anyio


async def submit(running: RunningHub, **request: Any) -> dict[str, Any]:
    response = await running.client.post("/api/v1/tasks", json=request)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def task_state(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/v1/tasks/{task_id}")).json()
    return body


async def wait_finished(running: RunningHub, task_ids: list[str]) -> list[dict[str, Any]]:
    finished: dict[str, dict[str, Any]] = {}

    async def poll() -> bool:
        for task_id in task_ids:
            if task_id not in finished:
                state = await task_state(running.client, task_id)
                if state["state"] in ("completed", "failed", "cancelled"):
                    finished[task_id] = state
        return len(finished) == len(task_ids)

    await running.wait_async(poll)
    return [finished[task_id] for task_id in task_ids]


async def agents_serving(running: RunningHub, *names: str) -> None:
    for name in names:
        await running.wait_for(lambda name=name: bool(running.hub.supervisor.runner(name).state.digests))


async def test_a_hundred_tasks_spread_over_three_agents_never_exceed_any_agents_limit(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {name: worker_entry(name, record, max_concurrent=2) for name in ("w1", "w2", "w3")}
    async with run_hub(servers) as running:
        await agents_serving(running, "w1", "w2", "w3")
        submitted = [
            await submit(
                running, capability="build", tool="work", arguments={"label": f"t{n}", "seconds": 0.02}
            )
            for n in range(100)
        ]
        results = await wait_finished(running, [task["id"] for task in submitted])
        agents = (await running.client.get("/api/v1/agents")).json()["items"]
        metrics = (await running.client.get("/metrics")).text

    assert {task["state"] for task in results} == {"completed"}
    assert 'corral_tasks{state="completed"} 100.0' in metrics
    assert 'corral_task_routing_decisions_total{outcome="dispatched"} 100.0' in metrics
    assert "corral_task_queue_wait_seconds_count 100.0" in metrics
    assert f'corral_agent_tasks_in_flight{{agent="{running.hub.node.name}/w1"}} 0.0' in metrics
    assert all(len(task["attempts"]) == 1 for task in results)
    lines = notes(record)
    ends = Counter(line["label"] for line in lines if line["event"] == "end")
    assert ends == {f"t{n}": 1 for n in range(100)}, "every task ran exactly once"
    peak: dict[str, int] = defaultdict(int)
    for line in lines:
        if line["event"] == "start":
            peak[line["worker"]] = max(peak[line["worker"]], line["running"])
    assert set(peak) == {"w1", "w2", "w3"}, "spread across all three"
    assert max(peak.values()) <= 2, f"a worker ran more than its max_concurrent: {dict(peak)}"
    by_worker = Counter(line["worker"] for line in lines if line["event"] == "end")
    assert min(by_worker.values()) >= 15, by_worker
    assert {agent["server"]: agent["completed"] for agent in agents} == dict(by_worker)
    assert all(agent["in_flight"] == 0 for agent in agents)


async def test_a_task_fails_over_to_another_agent_when_its_agent_is_killed_mid_call(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {name: worker_entry(name, record) for name in ("w1", "w2")}
    async with run_hub(servers) as running:
        await agents_serving(running, "w1", "w2")
        task = await submit(
            running, capability="build", tool="work", arguments={"label": "long", "seconds": 3}
        )
        started = await running.wait_async(lambda: _started(record, "long"))
        os.kill(started["pid"], signal.SIGKILL)
        [final] = await wait_finished(running, [task["id"]])

    assert final["state"] == "completed", (final["error"], final["attempts"])
    first, second = final["attempts"]
    assert first["state"] == "failed" and first["agent"].endswith(f"/{started['worker']}")
    assert second["state"] == "completed" and second["agent"] != first["agent"]
    ends = [line for line in notes(record) if line["event"] == "end"]
    assert [line["worker"] for line in ends] == [second["agent"].split("/")[-1]], "completed once"


async def test_a_queued_task_runs_when_the_agent_frees_and_higher_priority_goes_first(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"solo": worker_entry("solo", record, max_concurrent=1)}) as running:
        await agents_serving(running, "solo")
        blocker = await submit(running, tool="solo__work", arguments={"label": "blocker", "seconds": 0.5})
        await running.wait_async(lambda: _started(record, "blocker"))
        low = await submit(running, tool="work", arguments={"label": "low"}, priority=-5)
        normal = await submit(running, tool="work", arguments={"label": "normal"})
        high = await submit(running, tool="work", arguments={"label": "high"}, priority=10)
        waiting = await task_state(running.client, low["id"])
        agent = (await running.client.get("/api/v1/agents/solo")).json()
        await wait_finished(running, [blocker["id"], low["id"], normal["id"], high["id"]])

    assert waiting["state"] == "queued"
    assert (agent["in_flight"], agent["agent"]["max_concurrent"]) == (1, 1)
    order = [line["label"] for line in notes(record) if line["event"] == "start"]
    assert order == ["blocker", "high", "normal", "low"]


async def test_cancelling_a_running_task_cancels_the_call_upstream(run_hub: RunHub, tmp_path: Path) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"w1": worker_entry("w1", record)}) as running:
        await agents_serving(running, "w1")
        task = await submit(running, tool="work", arguments={"label": "long", "seconds": 30})
        await running.wait_async(lambda: _started(record, "long"))
        cancelled = await running.client.post(f"/api/v1/tasks/{task['id']}/cancel")
        again = await running.client.post(f"/api/v1/tasks/{task['id']}/cancel")
        await running.wait_async(lambda: any(line["event"] == "cancelled" for line in notes(record)))
        final = await task_state(running.client, task["id"])

    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert final["state"] == "cancelled" and final["attempts"][0]["state"] == "cancelled"


async def test_a_failing_tool_is_tried_on_the_next_agent_only_when_the_retry_policy_says_so(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {name: worker_entry(name, record) for name in ("w1", "w2")}
    async with run_hub(servers) as running:
        await agents_serving(running, "w1", "w2")
        once = await submit(running, capability="build", tool="fail", arguments={"label": "x"})
        twice = await submit(
            running, capability="build", tool="fail", retry={"attempts": 2, "on": ["tool_error"]}
        )
        first, second = await wait_finished(running, [once["id"], twice["id"]])

    assert first["state"] == "failed" and len(first["attempts"]) == 1
    assert first["error"].endswith("cannot do x")
    assert second["state"] == "failed"
    assert len({attempt["agent"] for attempt in second["attempts"]}) == 2, "failed over to the other agent"


async def test_bad_task_requests_get_clear_errors_and_store_nothing(run_hub: RunHub, tmp_path: Path) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"w1": worker_entry("w1", record, capability="build")}) as running:
        await agents_serving(running, "w1")
        post = running.client.post
        unknown_capability = await post("/api/v1/tasks", json={"capability": "paint", "tool": "work"})
        unknown_tool = await post("/api/v1/tasks", json={"tool": "dance"})
        no_gpu = await post(
            "/api/v1/tasks", json={"tool": "work", "gpu": {"count": 1, "min_memory_mib": 16384}}
        )
        nothing = await post("/api/v1/tasks", json={"arguments": {}})
        unknown_field = await post("/api/v1/tasks", json={"tool": "work", "priorty": 3})
        await running.client.post(
            "/api/v1/users", json={"name": "vera", "password": "pw-vera-123456", "role": "viewer"}
        )
        login = await running.client.post(
            "/api/v1/auth/login", json={"username": "vera", "password": "pw-vera-123456"}
        )
        async with running.anonymous() as anonymous:
            viewer = await anonymous.post(
                "/api/v1/tasks",
                json={"tool": "work"},
                headers={"Authorization": f"Bearer {login.json()['token']}"},
            )
        listed = (await running.client.get("/api/v1/tasks")).json()["items"]

    assert (unknown_capability.status_code, unknown_capability.json()["code"]) == (422, "invalid_input")
    assert unknown_capability.json()["detail"] == "unknown capability 'paint'; agents offer: build"
    assert unknown_tool.status_code == 422
    assert "no agent offers tool 'dance'" in unknown_tool.json()["detail"]
    assert "w1__work" in unknown_tool.json()["detail"]
    assert no_gpu.status_code == 422
    assert "w1: no GPU with ≥ 16 GiB free" in no_gpu.json()["detail"]
    assert nothing.status_code == 422 and "names a 'tool'" in nothing.text
    assert unknown_field.status_code == 422 and "priorty" in unknown_field.text
    assert (viewer.status_code, viewer.json()["code"]) == (403, "forbidden")
    assert listed == []


def _started(record: Path, label: str) -> dict[str, Any] | None:
    return next((line for line in notes(record) if line["event"] == "start" and line["label"] == label), None)


async def test_the_event_stream_snapshot_holds_unfinished_tasks_and_agents_then_pushes_task_events(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"solo": worker_entry("solo", record, max_concurrent=1)}) as running:
        await agents_serving(running, "solo")
        busy = await submit(running, tool="work", arguments={"label": "busy", "seconds": 30})
        waiting = await submit(running, tool="work", arguments={"label": "waiting"})
        await running.wait_async(lambda: _started(record, "busy"))
        url = running.url.replace("http://", "ws://") + "/ws/events?topics=tasks"
        token = running.hub.admin_token
        assert token is not None
        async with connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)], proxy=None) as ws:
            snapshot = json.loads(await ws.recv())
            await running.client.post(f"/api/v1/tasks/{busy['id']}/cancel")
            seen: list[tuple[str, str]] = []
            with anyio.fail_after(10):
                while ("task.completed", waiting["id"]) not in seen:
                    event = json.loads(await ws.recv())
                    seen.append((event["type"], event["subject"]))

    assert snapshot["type"] == "snapshot"
    assert {(task["id"], task["state"]) for task in snapshot["tasks"]} == {
        (busy["id"], "running"),
        (waiting["id"], "queued"),
    }
    assert [(agent["server"], agent["in_flight"], agent["queued"]) for agent in snapshot["agents"]] == [
        ("solo", 1, 1)
    ]
    # The snapshot is at least as new as its last_event_id; events it already reflects may follow it.
    assert seen.index(("task.cancelled", busy["id"])) < seen.index(("task.started", waiting["id"]))


async def test_a_task_submitted_while_its_agent_is_still_starting_waits_for_it_instead_of_being_refused(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"w1": {**worker_entry("w1", record), "lazy": True}}) as running:
        assert not running.hub.supervisor.runner("w1").state.digests, "not started yet: its tools are unknown"
        task = await submit(running, tool="work", arguments={"label": "early"})
        [final] = await wait_finished(running, [task["id"]])

    assert final["state"] == "completed", (final["error"], final["attempts"])
    assert final["result"] == {"worker": "w1", "label": "early"}
