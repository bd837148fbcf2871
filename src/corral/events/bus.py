"""The in-process event bus: publishers never wait, each subscriber has a bounded buffer.

A subscriber that falls behind by more than its buffer is cut off (its stream
ends) rather than slowing the publishers or the other subscribers. Sinks (the
event log's writer) see every event synchronously and must not block. Ids
continue after the store's newest one (``continue_after``), so they stay unique
across restarts; the event log gives them their durable meaning.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from corral.clock import Clock
from corral.events.models import Event
from corral.secrets.redact import redact_data

logger = logging.getLogger(__name__)

Sink = Callable[[Event], None]


class EventBus:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_id = 0
        self._subscribers: dict[int, MemoryObjectSendStream[Event]] = {}
        self._sinks: list[Sink] = []

    @property
    def last_id(self) -> int:
        return self._last_id

    def continue_after(self, last_id: int) -> None:
        """Number the next event ``last_id + 1`` (or later, if this bus already went further)."""
        self._last_id = max(self._last_id, last_id)

    def attach(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def detach(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def publish(self, topic: str, type: str, subject: str, data: dict[str, Any] | None = None) -> Event:
        """Number and send an event; secrets in its data are masked first, as it may be stored and shown."""
        self._last_id += 1
        event = Event(self._last_id, topic, type, subject, self._clock.now(), redact_data(data or {}))
        for sink in self._sinks:
            sink(event)
        for key, stream in list(self._subscribers.items()):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                logger.warning(
                    "dropping a slow event subscriber after %s buffered events",
                    stream.statistics().max_buffer_size,
                )
                stream.close()
                del self._subscribers[key]
            except anyio.BrokenResourceError:
                del self._subscribers[key]
        return event

    @asynccontextmanager
    async def subscribe(self, buffer: int = 1000) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
        send, receive = anyio.create_memory_object_stream[Event](buffer)
        key = id(send)
        self._subscribers[key] = send
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.pop(key, None)
            send.close()
