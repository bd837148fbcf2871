"""Workflow steps that run as tasks: placed by routing (a capability, target machines), recorded as tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rig import RunHub, RunningHub
from tests.tasks.conftest import worker_entry
from tests.tasks.test_dispatch import agents_serving

pytestmark = pytest.mark.anyio


async def run_workflow(running: RunningHub, workflow: dict[str, Any], **execute: Any) -> dict[str, Any]:
    created = await running.client.post("/api/v1/workflows", json=workflow)
    assert created.status_code == 201, created.text
    started = await running.client.post(f"/api/v1/workflows/{workflow['workflow_id']}/execute", json=execute)
    execution_id = started.json()["execution_id"]

    async def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = (await running.client.get(f"/api/v1/executions/{execution_id}")).json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    result: dict[str, Any] = await running.wait_async(finished)
    return result


async def test_a_step_routed_by_capability_runs_as_a_task_and_passes_its_result_on(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {
        "builder": worker_entry("builder", record, capability="build"),
        "reviewer": worker_entry("reviewer", record, capability="review"),
    }
    workflow = {
        "workflow_id": "routed",
        "name": "Build, then review where the builder says",
        "steps": [
            {"id": "build", "capability": "build", "tool": "work", "args": {"label": "b"}},
            {
                "id": "review",
                "capability": "review",
                "tool": "work",
                "args": {"label": "{{ steps.build.result.worker }}"},
                "dependencies": ["build"],
            },
            {
                "id": "anywhere",
                "tool": "work",
                "target_machines": ["{node}"],
                "args": {"label": "m"},
                "dependencies": ["review"],
            },
        ],
    }
    async with run_hub(servers) as running:
        await agents_serving(running, *servers)
        node = running.hub.node.name
        workflow["steps"][2]["target_machines"] = [node]
        final = await run_workflow(running, workflow)
        tasks = (await running.client.get("/api/v1/tasks")).json()["items"]

    assert final["status"] == "completed", final
    results = {step["key"]: step["result"] for step in final["steps"]}
    assert results["build"] == {"worker": "builder", "label": "b"}
    assert results["review"] == {"worker": "reviewer", "label": "builder"}
    assert results["anywhere"]["label"] == "m"
    assert len(tasks) == 3 and {task["actor"] for task in tasks} == {f"workflow:{final['execution_id']}"}
    assert {task["state"] for task in tasks} == {"completed"}


async def test_a_routed_step_that_no_agent_can_run_fails_with_the_reason(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    workflow = {
        "workflow_id": "nowhere",
        "name": "Asks for what nobody offers",
        "steps": [{"id": "paint", "capability": "paint", "tool": "work"}],
    }
    async with run_hub({"builder": worker_entry("builder", record)}) as running:
        await agents_serving(running, "builder")
        final = await run_workflow(running, workflow)

    assert final["status"] == "failed"
    assert "unknown capability 'paint'; agents offer: build" in final["steps"][0]["error"]
