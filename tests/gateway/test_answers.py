"""How the MCP endpoints answer a request on the wire: a JSON body when the response is all there is,
an SSE stream when anything comes before it (progress, a request to the client) or it takes a while;
and how a request run in the task of its own POST lives alongside others and ends with its session."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_types import CONNECTION_CLOSED

from corral.gateway.transport import JSON_WINDOW_S
from tests.gateway.clients import mcp_client, text
from tests.support import HubProcess, server_entry, wait_until

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess], marker_dir: Path) -> HubProcess:
    slow = server_entry("slow", CORRAL_TEST_MARKER_DIR=str(marker_dir))
    return module_hub({"mcpServers": {"echo": server_entry("echo"), "slow": slow}})


@pytest.fixture(scope="module")
def session(hub: HubProcess) -> dict[str, str]:
    return open_session(hub)


def open_session(hub: HubProcess) -> dict[str, str]:
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


def test_every_message_before_the_answer_arrives_in_order(hub: HubProcess, session: dict[str, str]) -> None:
    steps = 40  # more than a request's stream holds at once
    response = call(
        hub,
        session,
        5,
        "slow__slow",
        arguments={"steps": steps, "delay": 0},
        _meta={"progressToken": "many"},
    )
    messages = events(response.text)
    assert [message["params"]["progress"] for message in messages[:-1]] == list(range(1, steps + 1))
    assert messages[-1]["id"] == 5
    assert messages[-1]["result"]["content"][0]["text"] == f"done after {steps} steps"


def test_calls_side_by_side_on_one_session_each_get_their_own_answer(
    hub: HubProcess, session: dict[str, str]
) -> None:
    def echo(n: int) -> tuple[int, str]:
        answer = call(hub, session, 100 + n, "echo__echo", arguments={"text": f"call {n}"}).json()
        return answer["id"], answer["result"]["structuredContent"]["result"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(echo, range(24)))
    assert answers == [(100 + n, f"call {n}") for n in range(24)]


@contextmanager
def progress_stream(
    hub: HubProcess, session: dict[str, str], steps: int, delay: float
) -> Iterator[tuple[httpx.Client, Iterator[str]]]:
    """A ``slow__slow`` call (id 1) with a progress token, read up to its first progress event (so the call
    is known to run): the client it was posted with, and the rest of its body's lines."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "slow__slow",
            "arguments": {"steps": steps, "delay": delay},
            "_meta": {"progressToken": "streamed"},
        },
    }
    with (
        httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=30) as http,
        http.stream("POST", "/mcp", json=request, headers=session) as streamed,
    ):
        lines = streamed.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        yield http, lines


def test_ending_a_session_ends_its_calls_in_flight(hub: HubProcess, marker_dir: Path) -> None:
    """A DELETE answers the session's open calls with "Connection closed" and cancels them upstream."""
    own = open_session(hub)
    with progress_stream(hub, own, steps=600, delay=0.1) as (http, lines):
        assert http.delete("/mcp", headers=own).status_code == 200
        rest = events("\n".join(lines))
    assert rest[-1]["id"] == 1
    assert rest[-1]["error"]["code"] == CONNECTION_CLOSED
    wait_until((marker_dir / "cancelled-slow").exists, timeout=10)
    gone = hub.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=own)
    assert gone.status_code == 404
    assert call(hub, open_session(hub), 3, "echo__echo", arguments={"text": "on"}).status_code == 200


def test_a_caller_that_stops_listening_does_not_hold_up_its_call(hub: HubProcess) -> None:
    """The call runs to its end and is audited, though its stream's reader left after the first event."""

    def audited() -> list[str]:
        page = hub.get("/api/v1/audit", params={"action": "tool.call", "target": "slow/slow"}).json()
        return [entry["outcome"] for entry in page["items"]]

    before = len(audited())
    with progress_stream(hub, open_session(hub), steps=100, delay=0.01):
        pass  # the reader leaves here
    outcomes = wait_until(lambda: len(audited()) > before and audited(), timeout=20)
    assert outcomes[0] == "ok"
