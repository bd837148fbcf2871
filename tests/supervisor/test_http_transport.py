"""Corral's Streamable HTTP transport against real test servers: calls, kept-alive connections, the
server's own notifications, a silent server, a server that is gone, and headers that would break a request;
and calls on its lane: progress and logs in order, the server's own requests, errors, cancellation, a
forgotten session and a server killed mid-call."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import psutil
import pytest
from mcp import Client, MCPError

from corral.supervisor.connection import OpenStreams
from corral.supervisor.http import CallLane, HttpTransportError, http_transport
from tests.support import HttpTestServer, free_port

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def session(url: str, read_timeout_s: float = 10.0, **client_options: Any) -> AsyncIterator[Client]:
    async with lane_session(url, read_timeout_s, **client_options) as (client, _):
        yield client


@asynccontextmanager
async def lane_session(
    url: str, read_timeout_s: float = 10.0, **client_options: Any
) -> AsyncIterator[tuple[Client, CallLane]]:
    async with (
        http_transport(url, {}, connect_timeout_s=5.0, read_timeout_s=read_timeout_s) as (streams, lane),
        Client(OpenStreams(streams), mode="legacy", **client_options) as client,
    ):
        yield client, lane


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[HttpTestServer]:
    server = HttpTestServer("echo", free_port(), tmp_path)
    yield server
    server.stop()


def _connections_to(port: int) -> int:
    """Client-side sockets to ``port`` in any state (TIME_WAIT included): one per connection opened."""
    return sum(
        1
        for connection in psutil.net_connections(kind="tcp")
        if connection.raddr and connection.raddr.port == port
    )


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def test_calls_go_through_and_reuse_their_connections(echo: HttpTestServer) -> None:
    before = _connections_to(echo.port)
    async with session(echo.url) as client:
        for index in range(50):
            assert text(await client.call_tool("echo", {"text": f"call {index}"})) == f"call {index}"
        opened = _connections_to(echo.port) - before
    # A connection per call would be 50 and more; the handshake, the GET stream and a spare are all it takes.
    assert opened <= 4, opened


async def test_concurrent_calls_each_get_their_own_answer(echo: HttpTestServer) -> None:
    answers: dict[int, str] = {}
    async with session(echo.url) as client:

        async def call(index: int) -> None:
            answers[index] = text(await client.call_tool("echo", {"text": str(index)}))

        async with anyio.create_task_group() as tg:
            for index in range(20):
                tg.start_soon(call, index)
    assert answers == {index: str(index) for index in range(20)}


async def test_a_change_the_server_announces_reaches_the_client(tmp_path: Path) -> None:
    server = HttpTestServer("dynamic", free_port(), tmp_path)
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    try:
        async with session(server.url, message_handler=on_message) as client:
            # The server sends the notice on the standing GET stream, which the transport opens
            # once the session is up: a notice sent before it is open reaches nobody, as in MCP.
            for attempt in range(10):
                await client.call_tool("grow", {"name": f"added_later_{attempt}"})
                with anyio.move_on_after(2):
                    await changed.wait()
                if changed.is_set():
                    break
            assert changed.is_set(), "no tools/list_changed notice arrived"
            assert f"added_later_{attempt}" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        server.stop()


async def test_a_silent_server_fails_that_request_alone(tmp_path: Path) -> None:
    server = HttpTestServer("slow", free_port(), tmp_path)
    try:
        async with session(server.url, read_timeout_s=1.0) as client:
            with pytest.raises(Exception, match="read timeout"):
                await client.call_tool("sleep", {"seconds": 5})
            # The session goes on.
            assert "slept" in text(await client.call_tool("sleep", {"seconds": 0})).lower()
    finally:
        server.stop()


async def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(BaseException) as caught:
        async with session(f"http://127.0.0.1:{port}/mcp"):
            pass
    error = _innermost(caught.value)
    assert isinstance(error, HttpTransportError)
    assert f"cannot connect to 127.0.0.1:{port}" in str(error)


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


@pytest.mark.parametrize("headers", [{"x-token": "a\r\nx-injected: 1"}, {"x-bad\nname": "v"}])
async def test_a_header_with_a_line_break_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        async with http_transport(
            "http://127.0.0.1:9/mcp", headers, connect_timeout_s=1.0, read_timeout_s=1.0
        ):
            pass


# -- the lane: calls in the caller's task ------------------------------------------------------------------


@pytest.fixture
def conformance(tmp_path: Path) -> Iterator[HttpTestServer]:
    server = HttpTestServer("conformance", free_port(), tmp_path)
    yield server
    server.stop()


async def _ignore_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _ignore_log(params: types.LoggingMessageNotificationParams) -> None:
    return None


def _call(tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments or {}}


async def test_a_lane_call_gets_its_progress_and_logs_before_its_answer(conformance: HttpTestServer) -> None:
    progress: list[tuple[float, float | None]] = []
    logs: list[object] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async with lane_session(conformance.url) as (_, lane):
        result = await lane.call("tools/call", _call("test_tool_with_progress"), on_progress, on_log)
        assert progress == [(0, 100), (50, 100), (100, 100)]
        result = await lane.call("tools/call", _call("test_tool_with_logging"), on_progress, on_log)
        assert logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]
    assert result["content"][0]["text"] == "Tool with logging executed successfully"


async def test_a_lane_call_relays_the_servers_own_requests_to_the_client_session(
    conformance: HttpTestServer,
) -> None:
    asked: list[str] = []

    async def sampling(
        context: object, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        block = params.messages[0].content
        assert isinstance(block, types.TextContent)
        asked.append(block.text)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(text="42"), model="m")

    async with lane_session(conformance.url, sampling_callback=sampling) as (_, lane):
        arguments = {"prompt": "the answer?"}
        result = await lane.call(
            "tools/call", _call("test_sampling", arguments), _ignore_progress, _ignore_log
        )
    assert asked == ["the answer?"]
    assert result["content"][0]["text"] == "LLM response: 42"


async def test_an_error_answer_on_the_lane_is_an_mcp_error(echo: HttpTestServer) -> None:
    async with lane_session(echo.url) as (client, lane):
        with pytest.raises(MCPError) as caught:
            await lane.call("no/such_method", None, _ignore_progress, _ignore_log)
        assert caught.value.code == types.METHOD_NOT_FOUND
        # The session and its lane go on.
        result = await lane.call(
            "tools/call", _call("echo", {"text": "still here"}), _ignore_progress, _ignore_log
        )
        assert result["content"][0]["text"] == "still here"
        assert text(await client.call_tool("echo", {"text": "and here"})) == "and here"


async def test_a_lane_call_given_up_tells_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_TEST_MARKER_DIR", str(tmp_path))
    server = HttpTestServer("slow", free_port(), tmp_path)
    try:
        async with lane_session(server.url) as (_, lane):
            with anyio.move_on_after(0.5):
                await lane.call("tools/call", _call("sleep", {"seconds": 30}), _ignore_progress, _ignore_log)
            with anyio.fail_after(10):
                while not (tmp_path / "cancelled-sleep").exists():  # noqa: ASYNC110 - another process writes it
                    await anyio.sleep(0.05)
    finally:
        server.stop()


async def test_a_server_that_forgot_the_session_says_so_on_the_lane(echo: HttpTestServer) -> None:
    async with lane_session(echo.url) as (_, lane):
        await lane.call("tools/call", _call("echo", {"text": "before"}), _ignore_progress, _ignore_log)
        echo.restart()
        with pytest.raises(MCPError, match="Session not found"):
            await lane.call("tools/call", _call("echo", {"text": "after"}), _ignore_progress, _ignore_log)


async def test_a_server_killed_during_a_lane_call_fails_the_call_and_ends_the_transport(
    tmp_path: Path,
) -> None:
    server = HttpTestServer("slow", free_port(), tmp_path)
    failure: MCPError | None = None
    with pytest.raises(BaseException) as ended:
        async with lane_session(server.url) as (_, lane):
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.to_thread.run_sync, _kill_soon, server)
                    try:
                        await lane.call(
                            "tools/call", _call("sleep", {"seconds": 30}), _ignore_progress, _ignore_log
                        )
                    except MCPError as exc:
                        failure = exc
                await anyio.sleep_forever()  # the transport ends the session
    assert failure is not None and failure.code == types.CONNECTION_CLOSED, failure
    assert isinstance(_innermost(ended.value), HttpTransportError)


def _kill_soon(server: HttpTestServer) -> None:
    time.sleep(0.5)
    server.stop()
