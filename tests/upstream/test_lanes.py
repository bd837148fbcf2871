"""The lanes of Corral's transports (upstream/lane.py), HTTP and stdio, against real test servers.

A call on a lane gets its progress and log messages before its answer, the server's own requests still
reach the client session, an error answer is an ``MCPError``, a caller that gives up tells the server,
and a server killed mid-call fails the call instead of leaving it waiting.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, MCPError

from corral.upstream.connection import OpenStreams
from corral.upstream.http import HttpTransportError, http_transport
from corral.upstream.lane import CallLane
from corral.upstream.logs import LogBuffer
from corral.upstream.stdio import StdioProcess, stdio_transport
from tests.support import SERVERS, HttpTestServer, free_port

pytestmark = pytest.mark.anyio


class Upstream:
    """One of the project's test servers with a client session and the lane of its transport."""

    def __init__(self, client: Client, lane: CallLane, kill: Callable[[], None]) -> None:
        self.client = client
        self.lane = lane
        self.kill = kill


OpenUpstream = Callable[..., AbstractAsyncContextManager[Upstream]]


@pytest.fixture(params=["http", "stdio"])
def open_upstream(request: pytest.FixtureRequest, tmp_path: Path) -> OpenUpstream:
    @asynccontextmanager
    async def over_http(name: str, env: dict[str, str], **client_options: Any) -> AsyncIterator[Upstream]:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            server = HttpTestServer(name, free_port(), tmp_path)
        try:
            async with (
                http_transport(server.url, {}, connect_timeout_s=5.0, read_timeout_s=30.0) as (streams, lane),
                Client(OpenStreams(streams), mode="legacy", **client_options) as client,
            ):
                yield Upstream(client, lane, server.stop)
        finally:
            server.stop()

    @asynccontextmanager
    async def over_stdio(name: str, env: dict[str, str], **client_options: Any) -> AsyncIterator[Upstream]:
        started: list[StdioProcess] = []
        async with (
            stdio_transport(
                sys.executable,
                (str(SERVERS / f"{name}.py"),),
                env,
                None,
                LogBuffer(),
                lambda: datetime.now(UTC),
                started.append,
            ) as (streams, lane),
            Client(OpenStreams(streams), mode="legacy", **client_options) as client,
        ):
            yield Upstream(client, lane, lambda: os.kill(started[0].pid, signal.SIGKILL))

    return over_http if request.param == "http" else over_stdio


async def _ignore_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _ignore_log(params: types.LoggingMessageNotificationParams) -> None:
    return None


def _call(tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments or {}}


async def test_a_lane_call_gets_its_progress_and_logs_before_its_answer(open_upstream: OpenUpstream) -> None:
    progress: list[tuple[float, float | None]] = []
    logs: list[object] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async with open_upstream("conformance", {}) as upstream:
        await upstream.lane.call("tools/call", _call("test_tool_with_progress"), on_progress, on_log)
        assert progress == [(0, 100), (50, 100), (100, 100)]
        result = await upstream.lane.call("tools/call", _call("test_tool_with_logging"), on_progress, on_log)
        assert logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]
    assert result["content"][0]["text"] == "Tool with logging executed successfully"


async def test_a_lane_call_relays_the_servers_own_requests_to_the_client_session(
    open_upstream: OpenUpstream,
) -> None:
    asked: list[str] = []

    async def sampling(
        context: object, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        block = params.messages[0].content
        assert isinstance(block, types.TextContent)
        asked.append(block.text)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(text="42"), model="m")

    async with open_upstream("conformance", {}, sampling_callback=sampling) as upstream:
        arguments = {"prompt": "the answer?"}
        call = _call("test_sampling", arguments)
        result = await upstream.lane.call("tools/call", call, _ignore_progress, _ignore_log)
    assert asked == ["the answer?"]
    assert result["content"][0]["text"] == "LLM response: 42"


async def test_an_error_answer_on_the_lane_is_an_mcp_error(open_upstream: OpenUpstream) -> None:
    async with open_upstream("echo", {}) as upstream:
        with pytest.raises(MCPError) as caught:
            await upstream.lane.call("no/such_method", None, _ignore_progress, _ignore_log)
        assert caught.value.code == types.METHOD_NOT_FOUND
        # The session and its lane go on.
        call = _call("echo", {"text": "still here"})
        result = await upstream.lane.call("tools/call", call, _ignore_progress, _ignore_log)
        assert result["content"][0]["text"] == "still here"
        answer = await upstream.client.call_tool("echo", {"text": "and here"})
        assert isinstance(answer.content[0], types.TextContent) and answer.content[0].text == "and here"


async def test_a_lane_call_given_up_tells_the_server(open_upstream: OpenUpstream, tmp_path: Path) -> None:
    async with open_upstream("slow", {"CORRAL_TEST_MARKER_DIR": str(tmp_path)}) as upstream:
        with anyio.move_on_after(0.5):
            await upstream.lane.call(
                "tools/call", _call("sleep", {"seconds": 30}), _ignore_progress, _ignore_log
            )
        with anyio.fail_after(10):
            while not (tmp_path / "cancelled-sleep").exists():  # noqa: ASYNC110 - another process writes it
                await anyio.sleep(0.05)


async def test_a_server_killed_during_a_lane_call_fails_the_call(open_upstream: OpenUpstream) -> None:
    failure: MCPError | None = None
    try:
        async with open_upstream("slow", {}) as upstream, anyio.create_task_group() as tg:

            async def kill_soon() -> None:
                await anyio.sleep(0.5)
                upstream.kill()

            tg.start_soon(kill_soon)
            with anyio.fail_after(10):
                call = _call("sleep", {"seconds": 30})
                await upstream.lane.call("tools/call", call, _ignore_progress, _ignore_log)
    except* MCPError as group:
        failure = _innermost(group)
    except* HttpTransportError:
        pass  # over HTTP the broken connection also ends the transport, as for the client session
    assert failure is not None and failure.code == types.CONNECTION_CLOSED, failure


def _innermost(error: BaseException) -> MCPError:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, MCPError)
    return error
