"""Projects through a real hub: members, routing limited to a project's agents, metrics, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rig import RunHub
from tests.tasks.conftest import worker_entry
from tests.tasks.test_dispatch import agents_serving, submit, wait_finished

pytestmark = pytest.mark.anyio


async def test_a_project_groups_its_servers_and_workflows_limits_routing_and_has_its_own_metrics(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers: dict[str, dict[str, Any]] = {
        "web1": {**worker_entry("web1", record), "project": "web"},
        "ml1": {**worker_entry("ml1", record), "project": "ml"},
    }
    async with run_hub(servers) as running:
        await agents_serving(running, "web1", "ml1")
        post = running.client.post
        created = await post("/api/v1/projects", json={"name": "web", "description": "the site"})
        await post("/api/v1/projects", json={"name": "ml"})
        again = await post("/api/v1/projects", json={"name": "web"})
        workflow = {
            "workflow_id": "deploy",
            "name": "Deploy",
            "project": "web",
            "steps": [{"id": "s", "tool": "web1__work"}],
        }
        assert (await post("/api/v1/workflows", json=workflow)).status_code == 201
        tasks = [await submit(running, capability="build", tool="work", project="web") for _ in range(4)]
        finished = await wait_finished(running, [task["id"] for task in tasks])
        unknown = await post("/api/v1/tasks", json={"tool": "work", "project": "nope"})
        details = (await running.client.get("/api/v1/projects/web")).json()
        metrics = (await running.client.get("/api/v1/projects/web/metrics")).json()
        listed = (await running.client.get("/api/v1/projects")).json()["items"]
        in_use = await running.client.delete("/api/v1/projects/web")
        empty = await post("/api/v1/projects", json={"name": "empty"})
        deleted = await running.client.delete("/api/v1/projects/empty")

    assert created.status_code == 201 and created.json()["description"] == "the site"
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert {task["agent"].split("/")[-1] for task in finished} == {"web1"}, "only the project's agents"
    assert (unknown.status_code, unknown.json()["detail"]) == (422, "unknown project 'nope'")
    assert (details["servers"], details["agents"], details["workflows"]) == (["web1"], ["web1"], ["deploy"])
    assert metrics["calls"] == 4 and metrics["errors"] == 0 and metrics["p95_ms"] is not None
    assert metrics["tasks"] == {"completed": 4}
    assert [item["name"] for item in listed] == ["ml", "web"]
    assert (in_use.status_code, in_use.json()["code"]) == (409, "conflict")
    assert "web1" in in_use.json()["detail"]
    assert empty.status_code == 201 and deleted.status_code == 204
