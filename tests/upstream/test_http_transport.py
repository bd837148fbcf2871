"""Corral's Streamable HTTP transport against real test servers: calls, kept-alive connections, the
server's own notifications, a silent server, a server that is gone, headers that would break a request,
and a server that forgot the session, seen on the lane (the lane itself: test_lanes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import psutil
import pytest
from mcp import Client, MCPError

from corral.upstream.connection import OpenStreams
from corral.upstream.http import HttpTransportError, http_transport
from corral.upstream.lane import CallLane
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


async def _ignore_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _ignore_log(params: types.LoggingMessageNotificationParams) -> None:
    return None


async def test_a_server_that_forgot_the_session_says_so_on_the_lane(echo: HttpTestServer) -> None:
    call = {"name": "echo", "arguments": {"text": "hello"}}
    async with lane_session(echo.url) as (_, lane):
        await lane.call("tools/call", call, _ignore_progress, _ignore_log)
        echo.restart()
        with pytest.raises(MCPError, match="Session not found"):
            await lane.call("tools/call", call, _ignore_progress, _ignore_log)
