"""Workflow metrics and export/import, through the REST API of a real hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.support import HubProcess, server_entry, wait_until


def finished(hub: HubProcess, execution_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = hub.get(f"/api/v1/executions/{execution_id}").json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    result: dict[str, Any] = wait_until(done, timeout=30)
    return result


WORKFLOW = {
    "workflow_id": "history",
    "name": "Has a history",
    "params": {"text": {"type": "string", "default": "hi"}},
    "steps": [
        {"id": "say", "tool": "echo__echo", "args": {"text": "{{ params.text }}"}},
        {"id": "sum", "tool": "echo__add", "args": {"a": 1, "b": 2}, "dependencies": ["say"]},
    ],
}


def test_metrics_count_executions_by_status_with_durations(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo"), "flaky": server_entry("flaky")}})
    assert hub.post("/api/v1/workflows", json=WORKFLOW).status_code == 201
    failing = {
        "workflow_id": "fails",
        "name": "Fails",
        "steps": [{"id": "boom", "tool": "flaky__fail_always"}],
    }
    assert hub.post("/api/v1/workflows", json=failing).status_code == 201
    for _ in range(3):
        finished(hub, hub.post("/api/v1/workflows/history/execute", json={}).json()["execution_id"])
    finished(hub, hub.post("/api/v1/workflows/fails/execute", json={}).json()["execution_id"])

    everything = hub.get("/api/v1/workflows/metrics").json()
    one = hub.get("/api/v1/workflows/metrics", params={"workflow_id": "history"}).json()
    none = hub.get("/api/v1/workflows/metrics", params={"since": "2999-01-01T00:00:00Z"}).json()

    assert everything["executions"] == 4
    assert everything["by_status"]["completed"] == 3 and everything["by_status"]["failed"] == 1
    assert everything["success_rate"] == 0.75
    assert one["executions"] == 3 and one["success_rate"] == 1.0
    assert one["duration_p50_s"] is not None and one["duration_p95_s"] >= one["duration_p50_s"]
    assert {step["step"] for step in one["slowest_steps"]} == {"say", "sum"}
    assert none["executions"] == 0 and none["success_rate"] is None


def test_a_workflow_exported_from_one_hub_imports_into_another(start_hub: Callable[..., HubProcess]) -> None:
    fleet = {"mcpServers": {"echo": server_entry("echo")}}
    source = start_hub(fleet)
    assert source.post("/api/v1/workflows", json=WORKFLOW).status_code == 201
    changed = {**WORKFLOW, "description": "second version"}
    assert source.post("/api/v1/workflows", json=changed).json()["version"] == 2
    started = source.post("/api/v1/workflows/history/execute", json={"parameters": {"text": "exported"}})
    execution_id = started.json()["execution_id"]
    finished(source, execution_id)

    as_yaml = source.get("/api/v1/workflows/history/export", params={"format": "yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(as_yaml.text)
    assert [version["version"] for version in document["versions"]] == [1, 2]

    target = start_hub(fleet)
    imported = target.post("/api/v1/workflows/import", json=document)
    assert imported.status_code == 201, imported.text
    assert imported.json()["executions"] == 1
    copy = target.get(f"/api/v1/executions/{execution_id}").json()
    assert copy["status"] == "completed"
    assert {step["key"]: step["result"] for step in copy["steps"]}["say"] == "exported"
    assert target.get("/api/v1/workflows/history").json()["definition"]["description"] == "second version"
    again = target.post("/api/v1/workflows/import", json=document).json()
    assert again["executions"] == 0 and again["skipped"] == 1

    bad = target.post("/api/v1/workflows/import", json={"format": "nope"})
    assert bad.status_code == 422
    assert "not a workflow export" in bad.json()["detail"]
