"""Running an HTTP session's request in the task that received its POST.

The SDK serves a session through a dispatcher loop: a POST's request crosses a memory stream to the loop,
which spawns a task for it; its answer crosses another stream to a router task, which hands it to the POST
through a third. Each hand-off is a trip around the event loop plus the machinery of the streams, and
together they cost a tool call through the hub about a fifth of what the hub spends on it. Here the task
that received the POST runs the request itself, through the SDK's own dispatch (the same context,
cancellation and error rules), and whatever the request writes (its answer, and the progress, log
messages and server requests that belong to it) goes straight to that POST instead of through the router.

``InlineDispatcher`` is the SDK's dispatcher with one more entry, ``handle_here``; ``RoutedWrites`` is
the session's write stream, passing messages that belong to a request being handled here to its
``Answer``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.streamable_http import REQUEST_STREAM_BUFFER_SIZE, EventMessage
from mcp.shared._stream_protocols import WriteStream
from mcp.shared.dispatcher import OnNotify, OnNotifyIntercept, OnRequest
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.shared.transport_context import TransportContext
from mcp_types import JSONRPCError, JSONRPCMessage, JSONRPCRequest, JSONRPCResponse

_Spawned = tuple[Callable[..., Awaitable[Any]], tuple[object, ...]]


class InlineDispatcher(JSONRPCDispatcher[TransportContext]):
    """The SDK's dispatcher, able to run a request in its caller's task as well as in its own loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_request: OnRequest | None = None
        self._spawned_here: list[_Spawned] | None = None
        self._handled_here: set[anyio.CancelScope] = set()

    async def run(
        self,
        on_request: OnRequest,
        on_notify: OnNotify,
        on_notify_intercept: OnNotifyIntercept | None = None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        self._on_request = on_request
        try:
            await super().run(on_request, on_notify, on_notify_intercept, task_status=task_status)
        finally:
            # As the loop cancels the handlers it spawned: each answers "Connection closed".
            for scope in self._handled_here:
                scope.cancel()

    @property
    def ready(self) -> bool:
        """Whether the session's loop runs, so that a request can be handled here."""
        return self._on_request is not None and self._tg is not None

    async def handle_here(self, message: SessionMessage) -> None:
        """Dispatch one request exactly as the loop would, but run its handler in this task.

        The loop's dispatch builds the request's context, registers it for cancellation and spawns its
        handler without awaiting anything (only ``initialize`` is awaited, and never comes here); the
        spawn is caught and awaited right here instead.
        """
        request = message.message
        assert self._on_request is not None and isinstance(request, JSONRPCRequest)
        assert request.method not in self._inline_methods
        spawned: list[_Spawned] = []
        self._spawned_here = spawned
        try:
            await self._dispatch_request(request, message.metadata, self._on_request, None)
        finally:
            self._spawned_here = None
        with anyio.CancelScope() as scope:
            if not self.ready:  # the session ended while the request was on its way
                scope.cancel()
            self._handled_here.add(scope)
            try:
                for function, args in spawned:
                    await function(*args)
            finally:
                self._handled_here.discard(scope)

    def _spawn(
        self, fn: Callable[..., Awaitable[Any]], *args: object, sender_ctx: contextvars.Context | None
    ) -> None:
        if self._spawned_here is not None:
            self._spawned_here.append((fn, args))
        else:
            super()._spawn(fn, *args, sender_ctx=sender_ctx)


class Answer:
    """What one request handled here writes: its final message, and a stream once it needs one.

    The answer starts as a plain JSON body. Anything else the request writes first (progress, a log
    message, a request to the client) or a deadline calls ``stream``, which opens the stream and hands
    its reading end to ``start_stream`` once; from then on every message, the final one included, goes
    through it.
    """

    def __init__(self, start_stream: Callable[[MemoryObjectReceiveStream[EventMessage]], object]) -> None:
        self.final: JSONRPCMessage | None = None
        self._start_stream = start_stream
        self._sink: MemoryObjectSendStream[EventMessage] | None = None
        self._events: MemoryObjectReceiveStream[EventMessage] | None = None

    @property
    def streaming(self) -> bool:
        return self._sink is not None

    def stream(self) -> None:
        if self._sink is None:
            self._sink, self._events = anyio.create_memory_object_stream[EventMessage](
                REQUEST_STREAM_BUFFER_SIZE
            )
            self._start_stream(self._events)

    async def put(self, message: JSONRPCMessage) -> None:
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            self.final = message
            if self._sink is None:
                return
        else:
            self.stream()
        assert self._sink is not None
        try:
            await self._sink.send(EventMessage(message))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the client stopped listening: what the request writes now goes nowhere

    def end(self) -> None:
        """No more messages: a stream ends after what it was given."""
        if self._sink is not None:
            self._sink.close()

    def close(self) -> None:
        """Once the stream's task is done, whether or not it read everything."""
        if self._events is not None:
            self._events.close()


class RoutedWrites:
    """The session's write stream, handing what belongs to a request handled here to that request."""

    def __init__(self, inner: WriteStream[SessionMessage], answers: dict[str, Answer]) -> None:
        self._inner = inner
        self._answers = answers

    async def send(self, item: SessionMessage, /) -> None:
        request = _request_of(item) if self._answers else None
        answer = None if request is None else self._answers.get(request)
        if answer is None:
            await self._inner.send(item)
        else:
            await answer.put(item.message)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> RoutedWrites:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _request_of(item: SessionMessage) -> str | None:
    """The id of the request a message belongs to, as the transport keys its requests."""
    message = item.message
    if isinstance(message, JSONRPCResponse | JSONRPCError):
        return None if message.id is None else str(message.id)
    metadata = item.metadata
    if isinstance(metadata, ServerMessageMetadata) and metadata.related_request_id is not None:
        return str(metadata.related_request_id)
    return None
