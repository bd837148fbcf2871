"""The Streamable HTTP transport of one upstream server (the handshake-era protocol).

Corral's own, like its stdio transport, because a call through the hub is its hot path: the MCP SDK's
client transport builds every request through a general-purpose HTTP client and reads every event
stream through a general-purpose SSE reader, which together cost more than everything else the hub does
for a call. Here requests are written by hand, responses parsed by ``httptools`` (the C parser uvicorn
uses), and connections kept in a small pool.

What the SDK transport does that this one does too: the session id from ``initialize``, the protocol
version header the session stamps on its messages, JSON or event-stream answers, the standing GET stream
for the server's own messages (re-opened when it ends), DELETE of the session on close, and a JSON-RPC
error from a 4xx body passed on as it is. A 404 once there is a session says "Session not found", which
the runner takes as the server having forgotten it. What it leaves to the SDK transport (``open_client``
picks): the 2026 protocol (``protocol: auto``), and servers reached through a proxy. It does not resume
a broken event stream with ``Last-Event-ID``; a request whose stream breaks fails, as a connection
failure does, and the runner reconnects.

Besides the message streams the SDK's client session reads and writes, the transport has a lane
(upstream/lane.py): a request sent and answered in the caller's own task. Progress and log messages
in the request's event stream are handled in order before its answer; anything else in it still goes
to the client session.
"""

from __future__ import annotations

import logging
import select
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import anyio
import httptools
import mcp_types as types
from anyio.abc import ByteStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.message import ClientMessageMetadata, SessionMessage

from corral.upstream.lane import Answer, CallLane, LaneCall, connection_closed

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
IDLE_KEEP_S = 4.0
"""Idle connections older than this are closed rather than reused (servers commonly drop them at 5 s)."""
MAX_IDLE_CONNECTIONS = 32
DRAIN_S = 0.05
TERMINATE_TIMEOUT_S = 2.0
LISTEN_ATTEMPTS = 2
LISTEN_RETRY_S = 1.0


NotificationHook = Callable[[types.JSONRPCNotification], Awaitable[bool]]
"""Takes a notification that came with a request's answer; returns whether it dealt with it."""


class HttpTransportError(Exception):
    """The connection failed or broke, or the server's answer was not HTTP this transport can read."""


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    tls: bool
    path: str
    host_header: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        default_port = 443 if tls else 80
        port = parts.port or default_port
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(host, port, tls, path, shown if port == default_port else f"{shown}:{port}")


class _Response:
    """One response as ``httptools`` parses it (its callbacks fill this in)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.complete = False
        self.body = bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").lower()

    def take_body(self) -> bytes:
        data = bytes(self.body)
        self.body.clear()
        return data


class _Connection:
    def __init__(self, stream: ByteStream, read_timeout_s: float) -> None:
        self._stream = stream
        self._socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        self._read_timeout_s = read_timeout_s
        self._parser: httptools.HttpResponseParser | None = None
        self._response = _Response()
        self.idle_since = 0.0

    async def exchange(self, request: bytes) -> _Response:
        """Send a request and read its response's head; the body is read with ``body_parts``."""
        self._response = _Response()
        self._parser = httptools.HttpResponseParser(self._response)
        try:
            await self._stream.send(request)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise HttpTransportError(f"the connection to the server broke: {exc}") from exc
        while not self._response.headers_done:
            await self._read()
        self._response.status = self._parser.get_status_code()
        return self._response

    async def body_parts(self, timeout_s: float | None = None) -> AsyncIterator[bytes]:
        """The rest of the body as it arrives; a read waits at most ``timeout_s``, else the read timeout."""
        while True:
            if self._response.body:
                yield self._response.take_body()
            if self._response.complete:
                return
            await self._read(timeout_s)

    async def read_body(self) -> bytes:
        body = bytearray()
        async for part in self.body_parts():
            body += part
            if len(body) > MAX_MESSAGE_BYTES:
                raise HttpTransportError("an answer from the server exceeds the size limit")
        return bytes(body)

    @property
    def reusable(self) -> bool:
        response = self._response
        return (
            response.complete
            and self._parser is not None
            and self._parser.get_http_version() == "1.1"
            and "close" not in response.headers.get("connection", "").lower()
        )

    async def drain(self) -> None:
        """Read what is left of an answer whose message the caller has, so the connection can be reused."""
        if self._response.complete:
            return
        with suppress(HttpTransportError), anyio.move_on_after(DRAIN_S):
            async for _ in self.body_parts(DRAIN_S):
                pass

    async def _read(self, timeout_s: float | None = None) -> None:
        assert self._parser is not None
        # A bare scope, not fail_after: this runs for every read of every call, and the helper costs more.
        with anyio.CancelScope(deadline=anyio.current_time() + (timeout_s or self._read_timeout_s)) as scope:
            try:
                data = await self._stream.receive()
            except anyio.EndOfStream:
                if self._response.headers_done and not _framed(self._response):
                    self._response.complete = True  # a body that ends with the connection
                    return
                raise HttpTransportError("the server closed the connection mid-answer") from None
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                raise HttpTransportError(f"the connection to the server broke: {exc}") from exc
        if scope.cancelled_caught:
            raise TimeoutError
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise HttpTransportError(f"the server's answer is not valid HTTP: {exc}") from exc

    def dropped(self) -> bool:
        """Whether the server closed this idle connection (it reads as ready: end of stream)."""
        sock = self._socket
        return sock is None or sock.fileno() < 0 or bool(select.select([sock], [], [], 0)[0])

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()


def _framed(response: _Response) -> bool:
    return "content-length" in response.headers or "chunked" in response.headers.get("transfer-encoding", "")


class _Pool:
    def __init__(self, target: _Target, connect_timeout_s: float, read_timeout_s: float) -> None:
        self._target = target
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._idle: list[_Connection] = []
        self._ssl = ssl.create_default_context() if target.tls else None

    async def connect(self) -> _Connection:
        target = self._target
        try:
            with anyio.fail_after(self._connect_timeout_s):
                stream: ByteStream
                if self._ssl is not None:
                    stream = await anyio.connect_tcp(
                        target.host, target.port, ssl_context=self._ssl, tls_standard_compatible=False
                    )
                else:
                    stream = await anyio.connect_tcp(target.host, target.port)
        except (OSError, TimeoutError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or "timed out"
            raise HttpTransportError(f"cannot connect to {target.host_header}: {reason}") from exc
        return _Connection(stream, self._read_timeout_s)

    async def exchange(self, request: bytes) -> tuple[_Connection, _Response]:
        """Send ``request`` on an idle connection that is still open, else on a new one."""
        connection: _Connection | None = None
        while self._idle and connection is None:
            candidate = self._idle.pop()
            if time.monotonic() - candidate.idle_since > IDLE_KEEP_S or candidate.dropped():
                await candidate.aclose()
            else:
                connection = candidate
        if connection is None:
            connection = await self.connect()
        try:
            return connection, await connection.exchange(request)
        except BaseException:
            await connection.aclose()
            raise

    async def release(self, connection: _Connection) -> None:
        if connection.reusable and len(self._idle) < MAX_IDLE_CONNECTIONS:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            await connection.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()


class _Session:
    """One MCP session over HTTP: what the client writes goes out as POSTs; what comes back goes to it."""

    def __init__(
        self,
        target: _Target,
        headers: dict[str, str],
        pool: _Pool,
        inbound: MemoryObjectSendStream[SessionMessage | Exception],
        start_soon: Callable[..., object],
    ) -> None:
        self._target = target
        self._headers = headers
        self._pool = pool
        self._inbound = inbound
        self._start_soon = start_soon
        self._calls = 0
        self.session_id: str | None = None
        self._protocol_version: str | None = None

    async def write_loop(self, outbound: MemoryObjectReceiveStream[SessionMessage]) -> None:
        async with outbound:
            async for item in outbound:
                message = item.message
                stamped = item.metadata.headers if isinstance(item.metadata, ClientMessageMetadata) else None
                if isinstance(message, types.JSONRPCRequest) and message.method == "initialize":
                    self._protocol_version = None
                elif stamped and MCP_PROTOCOL_VERSION_HEADER in stamped:
                    self._protocol_version = stamped[MCP_PROTOCOL_VERSION_HEADER]
                if isinstance(message, types.JSONRPCRequest):
                    self._start_soon(self._request, message, stamped or {})
                    continue
                await self._send_other(message, stamped or {})
                if (
                    isinstance(message, types.JSONRPCNotification)
                    and message.method == "notifications/initialized"
                ):
                    self._start_soon(self._listen)

    def _head(self, method: str, extra: dict[str, str], accept: str, body: bytes | None) -> bytes:
        lines = [
            f"{method} {self._target.path} HTTP/1.1",
            f"host: {self._target.host_header}",
            f"accept: {accept}",
        ]
        if body is not None:
            lines += ["content-type: application/json", f"content-length: {len(body)}"]
        headers = {**self._headers, **extra}
        if self.session_id:
            headers[SESSION_HEADER] = self.session_id
        if self._protocol_version:
            headers.setdefault(MCP_PROTOCOL_VERSION_HEADER, self._protocol_version)
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    def _post(self, message: types.JSONRPCMessage, extra: dict[str, str]) -> bytes:
        body = message.model_dump_json(by_alias=True, exclude_unset=True).encode()
        return self._head("POST", extra, "application/json, text/event-stream", body)

    async def _request(self, message: types.JSONRPCRequest, extra: dict[str, str]) -> None:
        await self._inbound.send(SessionMessage(await self._exchange(message, extra, None)))

    async def call(
        self, method: str, params: dict[str, Any] | None, on_progress: ProgressFnT, on_log: LoggingFnT
    ) -> dict[str, Any]:
        """``CallLane``: a request sent and answered in the caller's task (upstream/lane.py).

        A broken connection fails the call and ends the transport, as a broken request of the client
        session does.
        """
        self._calls += 1
        call = LaneCall(self._calls, method, params, on_progress, on_log)
        try:
            answer = await self._exchange(call.request, {}, call.take)
        except HttpTransportError as exc:
            self._start_soon(_raise, exc)
            raise connection_closed(str(exc)) from exc
        except anyio.get_cancelled_exc_class():
            await call.give_up(partial(self._send_other, extra={}), HttpTransportError, TimeoutError)
            raise
        return call.result(answer)

    async def _exchange(
        self, message: types.JSONRPCRequest, extra: dict[str, str], on_notification: NotificationHook | None
    ) -> Answer:
        try:
            connection, response = await self._pool.exchange(self._post(message, extra))
        except TimeoutError:
            return _timed_out(message.id)
        try:
            if message.method == "initialize" and (session_id := response.headers.get(SESSION_HEADER)):
                self.session_id = session_id
            if response.status == 200 and response.content_type.startswith("text/event-stream"):
                answer = await self._relay_events(connection, message.id, on_notification)
                await connection.drain()
                return answer or _error(message.id, types.INTERNAL_ERROR, "the server ended its answer early")
            return self._answer(message.id, response, await connection.read_body())
        except TimeoutError:
            # Only this request is lost; the session and the other calls on it go on.
            return _timed_out(message.id)
        finally:
            await self._pool.release(connection)

    def _answer(self, request_id: types.RequestId, response: _Response, body: bytes) -> Answer:
        """The message a non-streamed answer stands for: the server's own, or an error saying what came."""
        if response.content_type.startswith("application/json"):
            try:
                answer = types.jsonrpc_message_adapter.validate_json(body, by_name=False)
            except ValueError:
                answer = None
            if isinstance(answer, types.JSONRPCResponse) and response.status == 200:
                return answer
            if isinstance(answer, types.JSONRPCError):
                return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=answer.error)
        if response.status == 404 and self.session_id:
            return _error(request_id, types.INVALID_REQUEST, "Session not found (HTTP 404)")
        if response.status == 202:
            return _error(
                request_id, types.INVALID_REQUEST, "the server answered a request with 202 Accepted"
            )
        location = f" to {response.headers['location']}" if "location" in response.headers else ""
        return _error(
            request_id,
            types.INTERNAL_ERROR,
            f"the server answered HTTP {response.status}{location} ({response.content_type or 'no body'})",
        )

    async def _send_other(self, message: types.JSONRPCMessage, extra: dict[str, str]) -> None:
        """A notification, or the answer to one of the server's requests: the server owes no reply."""
        connection, response = await self._pool.exchange(self._post(message, extra))
        try:
            await connection.read_body()
            if response.status >= 400:
                logger.debug("the server refused a message with HTTP %d", response.status)
        finally:
            await self._pool.release(connection)

    async def _relay_events(
        self,
        connection: _Connection,
        request_id: types.RequestId | None,
        on_notification: NotificationHook | None = None,
    ) -> Answer | None:
        """Pass on the messages of an event stream until it ends, or until the answer to ``request_id``.

        Returns that answer, or None when the stream ended without it. A notification goes to
        ``on_notification`` first, when there is one, and on to the client session unless it took it.
        """
        events = _EventReader()
        async for part in connection.body_parts():
            for data in events.feed(part):
                try:
                    message = types.jsonrpc_message_adapter.validate_json(data, by_name=False)
                except ValueError as exc:
                    logger.warning("an upstream sent an event that is not JSON-RPC: %.200r", data)
                    await self._inbound.send(exc)
                    continue
                if request_id is not None and isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
                    return message
                if (
                    on_notification is not None
                    and isinstance(message, types.JSONRPCNotification)
                    and await on_notification(message)
                ):
                    continue
                await self._inbound.send(SessionMessage(message))
        return None

    async def _listen(self) -> None:
        """The standing GET stream for what the server sends on its own; re-opened when it ends."""
        failures = 0
        while self.session_id and failures < LISTEN_ATTEMPTS:
            try:
                connection = await self._pool.connect()
            except HttpTransportError:
                failures += 1
                await anyio.sleep(LISTEN_RETRY_S)
                continue
            try:
                response = await connection.exchange(self._head("GET", {}, "text/event-stream", None))
                if response.status != 200 or not response.content_type.startswith("text/event-stream"):
                    return  # 405: the server has no such stream
                failures = 0
                await self._relay_events(connection, None)
            except TimeoutError:
                pass  # quiet for a read timeout: open it again
            except HttpTransportError:
                failures += 1
                await anyio.sleep(LISTEN_RETRY_S)
            finally:
                await connection.aclose()

    async def terminate(self) -> None:
        if not self.session_id:
            return
        with suppress(HttpTransportError, TimeoutError), anyio.fail_after(TERMINATE_TIMEOUT_S):
            connection, response = await self._pool.exchange(
                self._head("DELETE", {}, "application/json", None)
            )
            await connection.read_body()
            await self._pool.release(connection)
            if response.status not in (200, 202, 204, 405):
                logger.debug("the server answered DELETE of its session with HTTP %d", response.status)


class _EventReader:
    """Server-sent events, fed in pieces; gives the data of each ``message`` event that has data."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, part: bytes) -> list[bytes]:
        self._buffer += part.replace(b"\r\n", b"\n")
        if len(self._buffer) > MAX_MESSAGE_BYTES:
            raise HttpTransportError("an event from the server exceeds the size limit")
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        found: list[bytes] = []
        for block in blocks:
            event, data = b"message", []
            for line in block.split(b"\n"):
                field, _, value = line.partition(b":")
                value = value.removeprefix(b" ")
                if field == b"data":
                    data.append(value)
                elif field == b"event":
                    event = value
            if event == b"message" and data and any(data):
                found.append(b"\n".join(data))
        return found


async def _raise(exc: Exception) -> None:
    raise exc


def _timed_out(request_id: types.RequestId) -> types.JSONRPCError:
    return _error(
        request_id, types.INTERNAL_ERROR, "the server sent nothing for longer than the read timeout"
    )


def _error(request_id: types.RequestId, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))


@asynccontextmanager
async def http_transport(
    url: str, headers: dict[str, str], *, connect_timeout_s: float, read_timeout_s: float
) -> AsyncIterator[tuple[TransportStreams, CallLane]]:
    """The message streams of an MCP session with the server at ``url``, and its lane for calls.

    A connection that fails or an answer that is not HTTP ends the transport with
    ``HttpTransportError``, as a stdio server that exits ends its transport: the session ends and the
    runner reconnects. A request the server stays silent about for ``read_timeout_s`` fails alone.

    Raises:
        ValueError: ``url`` is not an http(s) URL, or a header has a line break in it.
    """
    if any("\r" in text or "\n" in text for item in headers.items() for text in item):
        raise ValueError("an HTTP header name or value of this server has a line break in it")
    target = _Target.of(url)
    pool = _Pool(target, connect_timeout_s, read_timeout_s)
    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
    try:
        async with anyio.create_task_group() as tg, inbound_send:
            session = _Session(target, headers, pool, inbound_send, tg.start_soon)
            tg.start_soon(session.write_loop, outbound_receive)
            try:
                yield (inbound, outbound), session
            finally:
                with anyio.CancelScope(shield=True):
                    await session.terminate()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await pool.aclose()
        outbound.close()
        inbound.close()
