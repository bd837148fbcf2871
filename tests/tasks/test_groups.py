"""Task groups over real worker agents: race, parallel, sequential and any, aggregated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rig import RunHub, RunningHub
from tests.tasks.conftest import notes, worker_entry
from tests.tasks.test_dispatch import agents_serving

pytestmark = pytest.mark.anyio


async def distribute(running: RunningHub, **request: Any) -> dict[str, Any]:
    response = await running.client.post("/api/v1/task-groups", json=request)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def finished_group(running: RunningHub, group_id: str) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        body: dict[str, Any] = (await running.client.get(f"/api/v1/task-groups/{group_id}")).json()
        return body if body["state"] != "running" else None

    result: dict[str, Any] = await running.wait_async(settled)
    return result


async def test_a_race_has_one_winner_and_the_others_see_the_cancellation(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {
        "fast": worker_entry("fast", record),
        "slow1": worker_entry("slow1", record, env={"WORKER_EXTRA_S": "30"}),
        "slow2": worker_entry("slow2", record, env={"WORKER_EXTRA_S": "30"}),
    }
    async with run_hub(servers) as running:
        await agents_serving(running, *servers)
        group = await distribute(
            running,
            task={"capability": "build", "tool": "work", "arguments": {"label": "r"}},
            execution_strategy="race",
        )
        final = await finished_group(running, group["id"])
        await running.wait_async(lambda: sum(line["event"] == "cancelled" for line in notes(record)) == 2)

    assert sorted(group["targets"]) == sorted(f"{running.hub.node.name}/{name}" for name in servers)
    assert final["state"] == "completed"
    by_target = {outcome["target"].split("/")[-1]: outcome for outcome in final["outcomes"]}
    assert by_target["fast"]["state"] == "completed" and final["winner"] == by_target["fast"]["task_id"]
    assert {by_target[name]["state"] for name in ("slow1", "slow2")} == {"cancelled"}
    assert final["counts"] == {"completed": 1, "cancelled": 2}
    assert final["merged"] == {"worker": "fast", "label": "r"}
    cancelled = {line["worker"] for line in notes(record) if line["event"] == "cancelled"}
    assert cancelled == {"slow1", "slow2"}, "the losers' servers were told to cancel"


async def test_parallel_with_one_failing_target_shows_two_successes_and_the_failure(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {
        "a": worker_entry("a", record),
        "b": worker_entry("b", record),
        "broken": worker_entry("broken", record, env={"WORKER_BROKEN": "1"}),
    }
    async with run_hub(servers) as running:
        await agents_serving(running, *servers)
        group = await distribute(
            running,
            task={"tool": "work", "arguments": {"label": "p"}, "retry": {"attempts": 1}},
            targets=["a", "b", "broken"],
        )
        final = await finished_group(running, group["id"])

    assert final["state"] == "partial"
    assert final["counts"] == {"completed": 2, "failed": 1}
    outcomes = {outcome["target"]: outcome for outcome in final["outcomes"]}
    assert outcomes["a"]["result"] == {"worker": "a", "label": "p"}
    assert outcomes["b"]["result"] == {"worker": "b", "label": "p"}
    assert outcomes["broken"]["state"] == "failed"
    assert outcomes["broken"]["error"].endswith("broken is broken")


async def test_sequential_stops_at_the_first_success_and_any_fails_over(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {
        "broken": worker_entry("broken", record, env={"WORKER_BROKEN": "1"}),
        "good": worker_entry("good", record),
        "spare": worker_entry("spare", record),
    }
    async with run_hub(servers) as running:
        await agents_serving(running, *servers)
        sequence = await distribute(
            running,
            task={"tool": "work", "arguments": {"label": "s"}, "retry": {"attempts": 1}},
            targets=["broken", "good", "spare"],
            execution_strategy="sequential",
        )
        in_order = await finished_group(running, sequence["id"])
        anyone = await distribute(
            running,
            task={
                "tool": "work",
                "arguments": {"label": "any"},
                "retry": {"attempts": 3, "on": ["tool_error"]},
            },
            targets=["broken", "good"],
            execution_strategy="any",
        )
        chosen = await finished_group(running, anyone["id"])

    assert in_order["state"] == "completed"
    assert [outcome["target"] for outcome in in_order["outcomes"]] == ["broken", "good"], "spare never ran"
    assert [outcome["state"] for outcome in in_order["outcomes"]] == ["failed", "completed"]
    assert chosen["state"] == "completed" and chosen["counts"] == {"completed": 1}
    assert chosen["outcomes"][0]["result"]["worker"] == "good"


async def test_bad_group_requests_are_refused_with_the_reason(run_hub: RunHub, tmp_path: Path) -> None:
    record = tmp_path / "work.jsonl"
    async with run_hub({"a": worker_entry("a", record)}) as running:
        await agents_serving(running, "a")
        post = running.client.post
        empty = await post("/api/v1/task-groups", json={"task": {"tool": "work"}, "targets": []})
        unknown = await post("/api/v1/task-groups", json={"task": {"tool": "work"}, "targets": ["nowhere"]})
        strategy = await post(
            "/api/v1/task-groups", json={"task": {"tool": "work"}, "execution_strategy": "fastest"}
        )
        groups_listed = (await running.client.get("/api/v1/tasks")).json()["items"]

    assert empty.status_code == 422 and "targets is empty" in empty.json()["detail"]
    assert unknown.status_code == 422
    assert (
        unknown.json()["detail"]
        == f"unknown target 'nowhere'; agents: {running.hub.node.name}/a; nodes: {running.hub.node.name}"
    )
    assert strategy.status_code == 422 and "execution_strategy" in strategy.text
    assert groups_listed == []
