"""The gateway's Streamable HTTP server transport: requests run where they arrive, JSON when it is all.

Two changes to the SDK's transport, both for the cost of a tool call through the hub:

- **Where a request runs.** The SDK hands each request to the session's dispatcher loop, which spawns a
  task for it and sends its answer back through a router task. Here the task that received the POST runs
  the request itself, through the SDK's own dispatch, and what the request writes comes straight back to
  it (``gateway/inline.py``).
- **How it is answered.** The spec lets a server answer a request POST with either one JSON object or an
  SSE stream. The SDK picks one mode for a whole session: SSE streams carry progress, log messages and
  requests back to the client but cost a stream task and more writes on every call; JSON bodies are
  cheap but drop everything except the response. Corral decides per request: when the request's response
  is the first message it writes and comes within ``JSON_WINDOW_S``, the answer is that response as a
  JSON body; when anything else comes first (a progress notification, a log message, a sampling or
  elicitation request) or nothing comes in time, the answer becomes an SSE stream that carries the rest,
  with its keep-alive pings.

Everything else (initialize, notifications, responses, errors, GET and DELETE, the 2026 protocol,
stateless mode) is the SDK's. This leans on the SDK's private helpers, which is why ``mcp`` is pinned to
a minor version; ``tests/gateway/test_answers.py`` checks both answer forms on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from uuid import uuid4

import anyio
import pydantic_core
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.connection import Connection
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import (
    CONTENT_TYPE_SSE,
    MCP_SESSION_ID_HEADER,
    EventMessage,
    SSEEvent,
    StreamableHTTPServerTransport,
    check_accept_headers,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager, _send_and_report_status
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.message import SessionMessage
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    INTERNAL_ERROR,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCRequest,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from corral.gateway.inline import Answer, InlineDispatcher, RoutedWrites

logger = logging.getLogger(__name__)

JSON_WINDOW_S = 1.0
"""How long a request's answer may stay silent before it becomes an SSE stream (with keep-alive pings)."""


class AdaptiveTransport(StreamableHTTPServerTransport):
    """The SDK's transport, running plain requests in the POST's task and answering JSON when it can."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._dispatcher: InlineDispatcher | None = None
        self._answers: dict[str, Answer] = {}

    @asynccontextmanager
    async def connect(
        self,
    ) -> AsyncGenerator[tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]], None]:
        async with super().connect() as (read_stream, write_stream):
            # Every write, the transport's own included, passes the requests handled here first.
            routed = RoutedWrites(write_stream, self._answers)
            self._write_stream = routed  # type: ignore[assignment]
            yield read_stream, routed

    def serve_with(self, dispatcher: InlineDispatcher) -> None:
        self._dispatcher = dispatcher

    async def _handle_post_request(
        self, scope: Scope, request: Request, receive: Receive, send: Send
    ) -> None:
        dispatcher = self._dispatcher
        message = await self._plain_request(request) if dispatcher is not None and dispatcher.ready else None
        if message is None or dispatcher is None:
            # Initialize, notifications, responses and anything malformed: the SDK's path, which reads the
            # body Starlette has already cached and answers errors the way clients expect.
            await super()._handle_post_request(scope, request, receive, send)
        elif await self._validate_request_headers(request, send):
            await self._answer(dispatcher, message, request, send)

    async def _answer(
        self, dispatcher: InlineDispatcher, message: JSONRPCRequest, request: Request, send: Send
    ) -> None:
        request_id = str(message.id)
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER, DEFAULT_NEGOTIATED_VERSION)
        session_message = self._create_session_message(message, request, request_id, version)
        answer = Answer(lambda events: streams.start_soon(self._stream, events, request, send))
        try:
            async with anyio.create_task_group() as streams:
                self._answers[request_id] = answer
                # A timer rather than a watching task: most answers come well within the window.
                window = asyncio.get_running_loop().call_later(JSON_WINDOW_S, answer.stream)
                try:
                    await dispatcher.handle_here(session_message)
                finally:
                    window.cancel()
                    if self._answers.get(request_id) is answer:
                        del self._answers[request_id]
                    answer.end()
                if not answer.streaming:
                    await self._respond(answer.final, request, send)
        finally:
            answer.close()

    async def _respond(self, final: JSONRPCMessage | None, request: Request, send: Send) -> None:
        if final is None:
            response = self._create_error_response(
                "The request ended without an answer",
                HTTPStatus.INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
            )
        else:
            response = self._create_json_response(final)
        await response(request.scope, request.receive, send)

    async def _stream(
        self, events: MemoryObjectReceiveStream[EventMessage], request: Request, send: Send
    ) -> None:
        response = EventSourceResponse(content=self._events(events), headers=self._stream_headers())
        with events:  # closed however the stream ends, so that the request never waits on it
            await response(request.scope, request.receive, send)

    async def _plain_request(self, request: Request) -> JSONRPCRequest | None:
        """The POST's request when it is a well-formed one other than ``initialize``, else None."""
        if check_accept_headers(request) != (True, True) or not self._check_content_type(request):
            return None
        try:
            message = jsonrpc_message_adapter.validate_python(
                pydantic_core.from_json(await request.body()), by_name=False
            )
        except ValueError:  # pydantic's ValidationError included
            return None
        if not isinstance(message, JSONRPCRequest) or message.method == "initialize":
            return None
        return message

    async def _events(self, events: MemoryObjectReceiveStream[EventMessage]) -> AsyncIterator[SSEEvent]:
        async for event in events:
            yield self._create_event_data(event)
            if _ends_request(event.message):
                return

    def _stream_headers(self) -> dict[str, str]:
        headers = {
            "Cache-Control": "no-cache, no-transform",
            "Connection": "keep-alive",
            "Content-Type": CONTENT_TYPE_SSE,
        }
        if self.mcp_session_id:
            headers[MCP_SESSION_ID_HEADER] = self.mcp_session_id
        return headers


class AdaptiveSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, serving stateful sessions on ``AdaptiveTransport``."""

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            return None
        session_id = uuid4().hex
        transport = AdaptiveTransport(
            session_id,
            event_store=self.event_store,
            security_settings=self.security_settings,
            retry_interval=self.retry_interval,
            idle_timeout=self.session_idle_timeout,
        )
        self._server_instances[session_id] = transport
        if requestor is not None:
            self._session_owners[session_id] = requestor
        return transport

    async def _serve_opening_request(
        self, http_transport: StreamableHTTPServerTransport, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The SDK's, with the session served by an ``InlineDispatcher`` its transport can run requests on.

        As in the SDK: the session's server task starts, the transport answers the opening request, and a
        session whose opening request fails is discarded again.
        """
        session_id = http_transport.mcp_session_id
        assert session_id is not None and isinstance(http_transport, AdaptiveTransport)

        async def run_server(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            try:
                async with http_transport.connect() as (read_stream, write_stream):
                    dispatcher = InlineDispatcher(
                        read_stream, write_stream, inline_methods=frozenset({"initialize"})
                    )
                    http_transport.serve_with(dispatcher)
                    task_status.started()
                    with http_transport.idle_scope or anyio.CancelScope() as idle:
                        await serve_connection(
                            self.app,
                            dispatcher,
                            connection=Connection.for_loop(dispatcher, session_id=session_id),
                            lifespan_state=self._lifespan_state,
                        )
                    if idle.cancelled_caught:
                        logger.info("MCP session %s ended after its idle timeout", session_id)
            except Exception:
                logger.exception("MCP session %s crashed", session_id)
            finally:
                await self._discard_session(session_id, http_transport)

        established = False
        try:
            assert self._task_group is not None
            await self._task_group.start(run_server)
            status = await _send_and_report_status(http_transport.handle_request, scope, receive, send)
            established = status is not None and status < 400
        finally:
            if not established:
                await self._discard_session(session_id, http_transport)


def _ends_request(message: JSONRPCMessage) -> bool:
    return isinstance(message, JSONRPCResponse | JSONRPCError)
