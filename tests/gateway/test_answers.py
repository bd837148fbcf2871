"""How the MCP endpoints answer a request on the wire: a JSON body when the response is all there is,
an SSE stream when anything comes before it (progress, a request to the client) or it takes a while."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from corral.gateway.transport import JSON_WINDOW_S
from tests.gateway.clients import mcp_client, text
from tests.support import HubProcess, server_entry

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess]) -> HubProcess:
    return module_hub({"mcpServers": {"echo": server_entry("echo"), "slow": server_entry("slow")}})


@pytest.fixture(scope="module")
def session(hub: HubProcess) -> dict[str, str]:
    """Headers of a session opened by hand: initialize, then the initialized notification."""
    opened = hub.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers=MCP_HEADERS,
    )
    assert opened.status_code == 200
    headers = {
        **MCP_HEADERS,
        "Mcp-Session-Id": opened.headers["mcp-session-id"],
        "Mcp-Protocol-Version": "2025-11-25",
    }
    initialized = hub.post(
        "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert initialized.status_code == 202
    return headers


def call(hub: HubProcess, session: dict[str, str], call_id: int, tool: str, **params: Any) -> Any:
    return hub.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": call_id, "method": "tools/call", "params": {"name": tool, **params}},
        headers=session,
        timeout=30,
    )


def events(body: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE body, in order (pings and other comments skipped)."""
    return [
        json.loads(line.removeprefix("data:").strip())
        for block in body.split("\n\n")
        for line in block.splitlines()
        if line.startswith("data:") and line.removeprefix("data:").strip()
    ]


def test_a_quick_answer_is_one_json_body(hub: HubProcess, session: dict[str, str]) -> None:
    response = call(hub, session, 1, "echo__echo", arguments={"text": "plain"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["mcp-session-id"] == session["Mcp-Session-Id"]
    assert response.json()["id"] == 1
    assert response.json()["result"]["structuredContent"] == {"result": "plain"}


def test_progress_before_the_answer_makes_it_a_stream(hub: HubProcess, session: dict[str, str]) -> None:
    response = call(
        hub,
        session,
        2,
        "slow__slow",
        arguments={"steps": 3, "delay": 0.05},
        _meta={"progressToken": "token-2"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = events(response.text)
    progress = [
        message["params"] for message in messages if message.get("method") == "notifications/progress"
    ]
    assert [(entry["progressToken"], entry["progress"]) for entry in progress] == [
        ("token-2", 1),
        ("token-2", 2),
        ("token-2", 3),
    ]
    assert messages[-1]["id"] == 2
    assert messages[-1]["result"]["content"][0]["text"] == "done after 3 steps"


def test_a_slow_answer_is_a_stream_opened_before_it_comes(hub: HubProcess, session: dict[str, str]) -> None:
    response = call(hub, session, 3, "slow__sleep", arguments={"seconds": JSON_WINDOW_S + 0.5})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = events(response.text)
    assert [message["id"] for message in messages] == [3]
    assert messages[0]["result"]["content"][0]["text"] == f"slept {JSON_WINDOW_S + 0.5}s"


def test_an_error_answer_is_a_json_body_too(hub: HubProcess, session: dict[str, str]) -> None:
    response = hub.post("/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "no/such/method"}, headers=session)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == -32601


@pytest.mark.anyio
async def test_the_sdk_client_reads_both_forms(hub: HubProcess) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with mcp_client(hub) as client:
        assert text(await client.call_tool("echo__echo", {"text": "json"})) == "json"
        result = await client.call_tool(
            "slow__slow", {"steps": 2, "delay": 0.05}, progress_callback=on_progress
        )
        assert text(result) == "done after 2 steps"
    assert progress == [1, 2]
