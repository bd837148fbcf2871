"""Workflows from the outside: the MCP workflow tools on /mcp, and `corral run FILE --follow`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.gateway.clients import mcp_client, text
from tests.support import VENV_BIN, HubProcess, server_entry, wait_until

GREETING = {
    "workflow_id": "greeting",
    "name": "Greets and adds",
    "params": {"who": {"type": "string", "default": "world"}},
    "steps": [
        {"id": "hello", "tool": "echo__echo", "args": {"text": "hello {{ params.who }}"}},
        {"id": "sum", "tool": "echo__add", "args": {"a": 2, "b": 3}, "dependencies": ["hello"]},
    ],
}


@pytest.mark.anyio
async def test_mcp_clients_create_run_and_follow_workflows(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})
    async with mcp_client(hub) as client:
        created = await client.call_tool("create_workflow", GREETING)
        assert not created.is_error, text(created)
        assert created.structured_content is not None and created.structured_content["version"] == 1

        started = await client.call_tool(
            "execute_workflow", {"workflow_id": "greeting", "parameters": {"who": "mcp"}}
        )
        assert started.structured_content is not None
        execution_id = started.structured_content["execution_id"]
        status: dict[str, Any] = {}
        with anyio.fail_after(20):
            while status.get("status") != "completed":
                reply = await client.call_tool("get_workflow_status", {"execution_id": execution_id})
                assert reply.structured_content is not None
                status = reply.structured_content
                await anyio.sleep(0.05)
        assert status["progress"] == 1.0 and status["estimated_completion"] is None
        assert status["step_states"] == {"hello": "completed", "sum": "completed"}
        assert {step["key"]: step["result"] for step in status["steps"]}["hello"] == "hello mcp"

        listed = await client.call_tool("list_workflows", {"status": "completed"})
        executions = await client.call_tool(
            "manage_executions", {"action": "list", "workflow_id": "greeting"}
        )
        metrics = await client.call_tool("get_workflow_metrics", {"workflow_id": "greeting"})
        exported = await client.call_tool("export_workflow_data", {"workflow_id": "greeting"})
        invalid = await client.call_tool(
            "create_workflow",
            {"workflow_id": "broken", "name": "x", "steps": [{"id": "a", "tool": "echo__nope"}]},
        )
        cancel_finished = await client.call_tool(
            "manage_executions", {"action": "cancel", "execution_id": execution_id}
        )

    assert listed.structured_content is not None
    assert [item["workflow_id"] for item in listed.structured_content["workflows"]] == ["greeting"]
    assert executions.structured_content is not None and len(executions.structured_content["executions"]) == 1
    assert metrics.structured_content is not None and metrics.structured_content["success_rate"] == 1.0
    assert exported.structured_content is not None and len(exported.structured_content["executions"]) == 1
    assert invalid.is_error and "steps.a.tool: server 'echo' has no tool 'nope'" in text(invalid)
    assert cancel_finished.is_error and "completed" in text(cancel_finished)


def corral_run(hub: HubProcess, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(VENV_BIN / "corral"), "run", str(path), "--follow", "--hub", hub.url]
    command += ["--data-dir", str(hub.data_dir), *args]
    environment = {"COLUMNS": "120", "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


def test_corral_run_follows_an_execution_and_exits_by_its_outcome(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo"), "flaky": server_entry("flaky")}})
    good = tmp_path / "greeting.yaml"
    good.write_text(yaml.safe_dump(GREETING))
    bad = tmp_path / "fails.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"workflow_id": "fails", "name": "Fails", "steps": [{"id": "boom", "tool": "flaky__fail_always"}]}
        )
    )

    succeeded = corral_run(hub, good, "--param", "who=cli")
    failed = corral_run(hub, bad)
    wrong_param = corral_run(hub, good, "--param", "nobody=1")

    assert succeeded.returncode == 0, succeeded.stderr
    assert "greeting v1: execution ex_" in succeeded.stdout
    assert "hello" in succeeded.stdout and "completed (100%)" in succeeded.stdout
    assert failed.returncode == 1
    assert "step 'boom' failed" in failed.stdout
    assert wrong_param.returncode != 0
    assert "params.nobody: not a parameter of 'greeting'" in wrong_param.stderr


def test_each_tool_call_carries_an_idempotency_key_in_its_meta(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})
    workflow = {
        "workflow_id": "keyed",
        "name": "Keyed",
        "steps": [{"id": "meta", "tool": "echo__request_meta"}],
    }
    assert hub.post("/api/v1/workflows", json=workflow).status_code == 201
    execution_id = hub.post("/api/v1/workflows/keyed/execute", json={}).json()["execution_id"]

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = hub.get(f"/api/v1/executions/{execution_id}").json()
        return body if body["status"] == "completed" else None

    state = wait_until(finished, timeout=30)
    meta = state["steps"][0]["result"]
    assert meta["io.corral/idempotency-key"] == f"{execution_id}:meta:1"
