"""The stdio transport of one upstream server process.

Unlike the SDK's stdio client it exposes what a supervisor needs: the pid, an
event set the moment the process exits or closes its stdout, and its stderr
captured into a ``LogBuffer``. The process runs in its own session (process
group), and leaving the context stops the whole group: close stdin, wait,
SIGTERM, wait, SIGKILL — shielded, every wait bounded. It also has a lane for
calls (upstream/lane.py): the caller's task writes the request, and the reader
hands the answer, and the progress and log messages before it, straight back.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.client.session import LoggingFnT
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.message import SessionMessage

from corral.upstream.lane import CallLane, LaneCall, connection_closed
from corral.upstream.logs import LogBuffer

logger = logging.getLogger(__name__)

STDIN_CLOSE_GRACE_S = 2.0
TERM_GRACE_S = 2.0
EXIT_POLL_S = 0.2
MAX_LINE_BYTES = 64 * 1024 * 1024
LANE_BUFFER = 16


@dataclass
class StdioProcess:
    """What the supervisor can see of a running stdio server."""

    pid: int
    ended: anyio.Event = field(default_factory=anyio.Event)
    returncode: int | None = None


@asynccontextmanager
async def stdio_transport(
    command: str,
    args: tuple[str, ...],
    env: dict[str, str],
    cwd: str | None,
    stderr: LogBuffer,
    now: Callable[[], datetime],
    on_start: Callable[[StdioProcess], None],
) -> AsyncIterator[tuple[TransportStreams, CallLane]]:
    """Spawn the server; yield the message streams the MCP client session reads and writes, and the lane.

    Raises:
        OSError: the command cannot be run (not found, not executable).
    """
    try:
        process = await anyio.open_process(
            [command, *args],
            env=get_default_environment() | env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        if exc.filename is None:  # uvloop's spawn errors do not say which file; name it as asyncio's do
            exc.filename = cwd if cwd is not None and not await anyio.Path(cwd).is_dir() else command
        raise
    watched = StdioProcess(pid=process.pid)
    stderr.note(f"started pid {process.pid}: {command} {' '.join(args)}", now())
    on_start(watched)

    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
    writing = anyio.Lock()

    async def write(message: types.JSONRPCMessage) -> None:
        assert process.stdin is not None
        data = message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
        async with writing:
            await process.stdin.send(data)

    lane = _StdioLane(write)

    async def read_stdout() -> None:
        assert process.stdout is not None
        buffer = b""
        async with inbound_send:
            with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                while True:
                    buffer += await process.stdout.receive()
                    *lines, buffer = buffer.split(b"\n")
                    if len(buffer) > MAX_LINE_BYTES:
                        raise OSError("a message from the server exceeds the size limit")
                    for line in lines:
                        if line.strip():
                            message = _parse(line)
                            if isinstance(message, Exception) or not await lane.deliver(message.message):
                                await inbound_send.send(message)
        lane.end()
        # stdout closes a moment before the exit is reaped; wait briefly so the exit code is known.
        await _exited_within(process, 0.2)
        watched.returncode = process.returncode
        watched.ended.set()

    async def read_stderr() -> None:
        assert process.stderr is not None
        with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            while True:
                chunk = await process.stderr.receive()
                stderr.feed(chunk.decode("utf-8", errors="replace"), now())

    async def write_stdin() -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with outbound_receive:
                async for message in outbound_receive:
                    await write(message.message)
        inbound_send.close()

    async def watch_exit() -> None:
        # stdout EOF is the fast signal; this catches a server whose child keeps the pipe open.
        await _exited_within(process, math.inf, poll_s=EXIT_POLL_S)
        watched.returncode = process.returncode
        watched.ended.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_stdout)
        tg.start_soon(read_stderr)
        tg.start_soon(write_stdin)
        tg.start_soon(watch_exit)
        try:
            yield (inbound, outbound), lane
        finally:
            lane.end()
            with anyio.CancelScope(shield=True):
                outbound.close()
                inbound.close()
                await _stop(process)
                watched.returncode = process.returncode
                watched.ended.set()
                stderr.note(f"pid {process.pid} exited with code {process.returncode}", now())
            tg.cancel_scope.cancel()


class _StdioLane:
    """``CallLane`` over a server's stdin and stdout, which carry every message of the session."""

    def __init__(self, write: Callable[[types.JSONRPCMessage], Awaitable[None]]) -> None:
        self._write = write
        self._open: dict[str, MemoryObjectSendStream[types.JSONRPCMessage]] = {}
        self._calls = 0
        self._ended = False

    async def call(
        self, method: str, params: dict[str, Any] | None, on_progress: ProgressFnT, on_log: LoggingFnT
    ) -> dict[str, Any]:
        if self._ended:
            raise connection_closed("the server's output has ended")
        self._calls += 1
        call = LaneCall(self._calls, method, params, on_progress, on_log)
        answers, replies = anyio.create_memory_object_stream[types.JSONRPCMessage](LANE_BUFFER)
        self._open[call.request_id] = answers
        try:
            with replies:
                try:
                    await self._write(call.request)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    raise connection_closed(f"cannot write to the server: {exc}") from exc
                async for message in replies:
                    if isinstance(message, types.JSONRPCNotification):
                        await call.take(message)
                    elif isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
                        return call.result(message)
        except anyio.get_cancelled_exc_class():
            await call.give_up(self._write, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
            raise
        finally:
            del self._open[call.request_id]
            answers.close()
        raise connection_closed("the server's output ended before its answer")

    async def deliver(self, message: types.JSONRPCMessage) -> bool:
        """Hand a message the server wrote to the lane call it belongs to; False when it belongs to none.

        A log message goes to the latest call, whose caller gives it to the relay, as the client
        session would: the relay picks the client it goes to.
        """
        owner = self._owner(message)
        if owner is None:
            return False
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):  # its caller just left
            await owner.send(message)
        return True

    def end(self) -> None:
        """The server's output has ended: calls waiting for an answer get none."""
        self._ended = True
        for answers in self._open.values():
            answers.close()

    def _owner(self, message: types.JSONRPCMessage) -> MemoryObjectSendStream[types.JSONRPCMessage] | None:
        if not self._open:
            return None
        if isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            return self._open.get(str(message.id))
        if isinstance(message, types.JSONRPCNotification):
            if message.method == "notifications/progress":
                return self._open.get(str((message.params or {}).get("progressToken")))
            if message.method == "notifications/message":
                return next(reversed(self._open.values()))
        return None


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        logger.warning("an upstream wrote a line that is not JSON-RPC: %.200r", line)
        return exc


async def _stop(process: Process) -> None:
    """Close stdin, give the server a moment to leave, then end its whole process group."""
    assert process.stdin is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    if not await _exited_within(process, STDIN_CLOSE_GRACE_S):
        await terminate_posix_process_tree(process, TERM_GRACE_S)
        await _exited_within(process, TERM_GRACE_S)
    else:
        # The leader left; members of its group may not have.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with anyio.move_on_after(TERM_GRACE_S), suppress(OSError, anyio.BrokenResourceError):
        await process.aclose()


async def _exited_within(process: Process, seconds: float, poll_s: float = 0.005) -> bool:
    # Not process.wait(): on 3.11 it also waits for the pipes to close, which a surviving child may hold open.
    with anyio.move_on_after(seconds):
        while process.returncode is None:  # noqa: ASYNC110
            await anyio.sleep(poll_s)
    return process.returncode is not None
