"""The pattern tools through /mcp: list_patterns, validate_pattern_application, apply_pattern."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from tests.gateway.clients import mcp_client, text
from tests.support import HubProcess, server_entry, wait_until

pytestmark = pytest.mark.anyio


async def test_mcp_clients_list_validate_and_apply_patterns(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})
    hub.wait_status("echo", "healthy")
    async with mcp_client(hub) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        listed = await client.call_tool("list_patterns", {})
        invalid = await client.call_tool(
            "validate_pattern_application",
            {"pattern_id": "restart-and-verify", "target": "ghost", "parameters": {"timeout_s": "soon"}},
        )
        valid = await client.call_tool(
            "validate_pattern_application", {"pattern_id": "smoke-test", "target": "echo"}
        )
        refused = await client.call_tool("apply_pattern", {"pattern_id": "smoke-test", "target": "ghost"})
        applied = await client.call_tool("apply_pattern", {"pattern_id": "smoke-test", "target": "echo"})
        assert applied.structured_content is not None, text(applied)
        execution_id = applied.structured_content["execution_id"]
        status: dict[str, Any] = {}
        with anyio.fail_after(30):
            while status.get("status") != "completed":
                reply = await client.call_tool("get_workflow_status", {"execution_id": execution_id})
                assert reply.structured_content is not None, text(reply)
                status = reply.structured_content
                await anyio.sleep(0.05)

    assert {"list_patterns", "validate_pattern_application", "apply_pattern"} <= set(tools)
    assert tools["apply_pattern"].output_schema is not None
    assert listed.structured_content is not None
    assert [item["id"] for item in listed.structured_content["patterns"]] == [
        "restart-and-verify", "rolling-restart", "smoke-test",
    ]  # fmt: skip
    assert invalid.structured_content is not None and invalid.structured_content["ok"] is False
    assert invalid.structured_content["errors"] == [
        "preconditions.exists: no server is named 'ghost'",
        "preconditions.enabled: no server is named 'ghost'",
        "params.timeout_s: expected number, got str",
    ]
    assert valid.structured_content is not None and valid.structured_content["ok"] is True
    assert refused.is_error and "cannot apply 'smoke-test' to 'ghost'" in text(refused)
    assert "preconditions.healthy: no server is named 'ghost'" in text(refused)
    assert applied.structured_content["status"] in ("running", "completed")
    assert status["step_states"] == {"tools": "completed", "probe": "completed", "verdict": "completed"}
    application_id = applied.structured_content["application_id"]
    record = wait_until(
        lambda: (
            (body := hub.get(f"/api/v1/patterns/applications/{application_id}").json())["status"] != "running"
            and body
        )
    )
    assert record["status"] == "completed"
