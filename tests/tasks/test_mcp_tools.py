"""The task tools over MCP (an official SDK client on /mcp): structured answers, the roles they need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.api.mcp_support import mcp_session
from tests.rig import RunHub
from tests.tasks.conftest import worker_entry
from tests.tasks.test_dispatch import agents_serving

pytestmark = pytest.mark.anyio


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_tasks_and_groups_are_made_and_followed_through_the_mcp_tools(
    run_hub: RunHub, tmp_path: Path
) -> None:
    record = tmp_path / "work.jsonl"
    servers = {"a": worker_entry("a", record), "b": worker_entry("b", record)}
    async with run_hub(servers) as running:
        await agents_serving(running, "a", "b")
        assert running.hub.admin_token is not None
        async with mcp_session(running, running.hub.admin_token) as client:
            listed = await client.list_tools()
            names = {tool.name for tool in listed.tools}
            agents = await call(client, "manage_agents", {"action": "list"})
            created = await call(
                client, "manage_tasks", {"action": "create", "task": {"capability": "build", "tool": "work"}}
            )
            task_id = created["tasks"][0]["id"]

            async def task_done() -> dict[str, Any] | None:
                status = await call(client, "get_task_status", {"id": task_id})
                return status if status["task"]["state"] == "completed" else None

            status = await running.wait_async(task_done)
            group = await call(
                client,
                "distribute_task",
                {"task": {"tool": "work", "arguments": {"label": "g"}}, "execution_strategy": "parallel"},
            )

            async def group_done() -> dict[str, Any] | None:
                found = await call(client, "aggregate_task_results", {"group_id": group["id"]})
                return found if found["state"] != "running" else None

            aggregate = await running.wait_async(group_done)
            updated = await call(
                client,
                "manage_agents",
                {
                    "action": "update",
                    "agent": "a",
                    "spec": {"capabilities": ["build", "lint"], "max_concurrent": 5},
                },
            )
            missing = await client.call_tool("manage_tasks", {"action": "get"})
            unknown = await client.call_tool("manage_tasks", {"action": "get", "task_id": "tk_nope"})

    assert {
        "manage_agents",
        "manage_tasks",
        "distribute_task",
        "get_task_status",
        "aggregate_task_results",
    } <= names
    assert sorted(agent["server"] for agent in agents["agents"]) == ["a", "b"]
    assert status["task"]["result"]["worker"] in ("a", "b")
    assert aggregate["state"] == "completed" and aggregate["counts"] == {"completed": 2}
    assert sorted(outcome["result"]["worker"] for outcome in aggregate["outcomes"]) == ["a", "b"]
    assert updated["agents"][0]["agent"]["capabilities"] == ["build", "lint"]
    assert updated["agents"][0]["agent"]["max_concurrent"] == 5
    assert missing.is_error and "'get' needs 'task_id'" in str(missing.content)
    assert unknown.is_error and "no task 'tk_nope'" in str(unknown.content)
