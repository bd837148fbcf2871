"""The gateway's Streamable HTTP server transport: a JSON body when the answer is all there is.

The spec lets a server answer a request POST with either one JSON object or an SSE stream. The SDK's
transport picks one mode for a whole session: SSE streams carry progress, log messages and requests
back to the client but cost a stream task group and more writes on every call; JSON bodies are cheap
but drop everything except the response. Corral decides per request, after dispatching it: when the
request's response is the first message for it and comes within ``JSON_WINDOW_S``, the answer is that
response as a JSON body; when anything else comes first (a progress notification, a log message, a
sampling or elicitation request) or nothing comes in time, the answer becomes an SSE stream that starts
with what came and carries the rest. A tool call through the hub is usually the first case, and this
cuts what the hub spends on it by a third to a half (docs/design.md); relays and long calls keep their
stream, with its keep-alive pings, exactly as before.

Everything else (initialize, notifications, errors, GET and DELETE, the 2026 protocol, stateless mode)
is the SDK's. This leans on the transport's private helpers, which is why ``mcp`` is pinned to a minor
version; ``tests/gateway/test_answers.py`` checks both answer forms on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus
from uuid import uuid4

import anyio
import pydantic_core
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import (
    CONTENT_TYPE_SSE,
    MCP_SESSION_ID_HEADER,
    REQUEST_STREAM_BUFFER_SIZE,
    EventMessage,
    SSEEvent,
    StreamableHTTPServerTransport,
    check_accept_headers,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
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

JSON_WINDOW_S = 1.0
"""How long a request's answer may stay silent before it becomes an SSE stream (with keep-alive pings)."""


class AdaptiveTransport(StreamableHTTPServerTransport):
    """The SDK's transport, answering a plain request with a JSON body when its response comes first."""

    async def _handle_post_request(
        self, scope: Scope, request: Request, receive: Receive, send: Send
    ) -> None:
        message = await self._plain_request(request)
        if message is None:
            # Initialize, notifications, responses and anything malformed: the SDK's path, which reads the
            # body Starlette has already cached and answers errors the way clients expect.
            await super()._handle_post_request(scope, request, receive, send)
        elif await self._validate_request_headers(request, send):
            await self._answer(message, request, send)

    async def _answer(self, message: JSONRPCRequest, request: Request, send: Send) -> None:
        assert self._read_stream_writer is not None  # a request reaches a transport only once connect() ran
        request_id = str(message.id)
        answers, answer_reader = anyio.create_memory_object_stream[EventMessage](REQUEST_STREAM_BUFFER_SIZE)
        self._request_streams[request_id] = (answers, answer_reader)
        try:
            version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER, DEFAULT_NEGOTIATED_VERSION)
            await self._read_stream_writer.send(
                self._create_session_message(message, request, request_id, version)
            )
            first: EventMessage | None = None
            with anyio.move_on_after(JSON_WINDOW_S):
                first = await answer_reader.receive()
            if first is not None and _ends_request(first.message):
                response = self._create_json_response(first.message)
            else:
                response = EventSourceResponse(
                    content=self._events(first, answer_reader), headers=self._stream_headers()
                )
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            response = self._create_error_response(
                "Session terminated before the request completed",
                HTTPStatus.INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
            )
        try:
            await response(request.scope, request.receive, send)
        finally:
            await self._clean_up_memory_streams(request_id)

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

    async def _events(
        self, first: EventMessage | None, rest: MemoryObjectReceiveStream[EventMessage]
    ) -> AsyncIterator[SSEEvent]:
        if first is not None:
            yield self._create_event_data(first)
        async for event in rest:
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
    """The SDK's session manager, opening stateful sessions on ``AdaptiveTransport``."""

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


def _ends_request(message: JSONRPCMessage) -> bool:
    return isinstance(message, JSONRPCResponse | JSONRPCError)
