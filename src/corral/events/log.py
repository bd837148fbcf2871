"""The event log: every event stored in batches off the hot path, then handed to the stream's followers.

The bus numbers events; this writer task stores them in id order and only then
delivers them to followers (the WebSocket clients), so a client never holds an
id the store has not got: after a crash the next ids continue from the store's
newest one and a resuming client misses nothing. Replays come from memory when
the newest events cover them, from the store otherwise; what neither still
holds is a ``ReplayGap``, and the client is told to take a new snapshot.
Old events are pruned by retention (``corral.retention``); the log reports how far back a client can
resume (``resume_window``).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sqlalchemy.exc import SQLAlchemyError

from corral.clock import Clock
from corral.config.settings import EventStreamSettings
from corral.errors import CorralError
from corral.events.bus import EventBus
from corral.events.models import Event
from corral.events.store import EventStore
from corral.events.topics import TopicFilter

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
PAGE_SIZE = 500
WRITE_TIMEOUT_S = 10.0
RETRY_AFTER_S = 1.0
FINAL_FLUSH_S = 5.0

Accept = Callable[[Event], bool]
T = TypeVar("T")


class ReplayGap(CorralError):
    """Some events a client asked for are no longer kept (or were never stored)."""

    code = "replay_gap"


class CutOff(enum.Enum):
    """Why a follower's stream ended early."""

    SLOW = "slow"
    LOST = "lost"
    SHUTDOWN = "shutdown"


@dataclass
class Follower:
    """One follower of the stored events: what it gets, from which id on, and whether it was cut off."""

    events: MemoryObjectReceiveStream[Event]
    head: int
    """The newest stored id when it started following; later events come through ``events``."""
    cut_off: anyio.Event = field(default_factory=anyio.Event)
    why: CutOff | None = None
    reason: str = ""


@dataclass(frozen=True)
class ResumeWindow:
    """How far back a client can resume: from the oldest stored event to the newest."""

    oldest_id: int | None
    oldest_time: datetime | None
    newest_id: int
    age_s: float
    """How old the oldest stored event is (0 when none is stored)."""


@dataclass
class _Entry:
    send: MemoryObjectSendStream[Event]
    accept: Accept
    follower: Follower


class EventLog:
    def __init__(self, store: EventStore, bus: EventBus, settings: EventStreamSettings, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._clock = clock
        self._send, self._receive = anyio.create_memory_object_stream[Event](settings.write_queue_events)
        self._recent: deque[Event] = deque(maxlen=settings.memory_events)
        self._followers: dict[int, _Entry] = {}
        self.stored_id = 0
        """The newest id stored (and delivered to followers)."""
        self._lost_through = 0
        self._oldest: tuple[int, datetime] | None = None
        self.dropped = 0
        self.slow_cut_offs = 0

    # -- writing -------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Store and deliver events until cancelled; start it before anything publishes."""
        self.stored_id = await self._store.newest_id()
        await self.refresh_window()
        self._bus.continue_after(self.stored_id)
        self._bus.attach(self._enqueue)
        try:
            task_status.started()
            async for first in self._receive:
                await self._write([first, *self._drain(BATCH_SIZE)])
        finally:
            self._bus.detach(self._enqueue)
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_FLUSH_S):
                await self._write(self._drain(self._settings.write_queue_events))
            for entry in list(self._followers.values()):
                self._cut_off(entry, CutOff.SHUTDOWN, "the hub is shutting down")
            self._send.close()
            self._receive.close()

    def _enqueue(self, event: Event) -> None:
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
            self._lost_through = event.id
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("event log queue full: %d events dropped so far", self.dropped)
            for entry in list(self._followers.values()):
                self._cut_off(entry, CutOff.LOST, "events were dropped: the event log fell behind")

    def _drain(self, limit: int) -> list[Event]:
        batch: list[Event] = []
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return batch

    async def _write(self, batch: list[Event]) -> None:
        if not batch:
            return
        stored = False
        # Shielded: a batch is either stored and delivered, or known lost; never half-way at shutdown.
        with anyio.CancelScope(shield=True), anyio.move_on_after(WRITE_TIMEOUT_S):
            try:
                await self._store.append(batch)
                stored = True
            except (SQLAlchemyError, OSError):  # asyncpg's refused connection is an OSError
                logger.exception(
                    "could not store %d events (ids %d-%d)", len(batch), batch[0].id, batch[-1].id
                )
        if not stored:
            self._lost_through = batch[-1].id
            for entry in list(self._followers.values()):
                self._cut_off(entry, CutOff.LOST, "events could not be stored")
            await anyio.sleep(RETRY_AFTER_S)
            return
        self.stored_id = batch[-1].id
        if self._oldest is None:
            self._oldest = (batch[0].id, batch[0].time)
        self._recent.extend(batch)
        self._deliver(batch)

    def _deliver(self, batch: Sequence[Event]) -> None:
        for entry in list(self._followers.values()):
            for event in batch:
                if not entry.accept(event):
                    continue
                try:
                    entry.send.send_nowait(event)
                except anyio.WouldBlock:
                    waiting = entry.send.statistics().max_buffer_size
                    self._cut_off(entry, CutOff.SLOW, f"slow consumer: more than {waiting} events waiting")
                    break
                except anyio.BrokenResourceError:
                    self._followers.pop(id(entry.send), None)
                    break

    def _cut_off(self, entry: _Entry, why: CutOff, reason: str) -> None:
        self._followers.pop(id(entry.send), None)
        if why is CutOff.SLOW:
            self.slow_cut_offs += 1
        entry.follower.why, entry.follower.reason = why, reason
        entry.follower.cut_off.set()
        entry.send.close()

    # -- the resume window ---------------------------------------------------------------------

    async def refresh_window(self) -> None:
        """Read the oldest stored event again (at start, and after retention pruned some).

        Raises: TimeoutError when the store does not answer within ``WRITE_TIMEOUT_S``.
        """
        self._oldest = await _shielded(self._store.oldest())

    def resume_window(self) -> ResumeWindow:
        if self._oldest is None:
            return ResumeWindow(None, None, self.stored_id, 0.0)
        oldest_id, oldest_time = self._oldest
        age_s = max(0.0, (self._clock.now() - oldest_time).total_seconds())
        return ResumeWindow(oldest_id, oldest_time, self.stored_id, age_s)

    # -- following -----------------------------------------------------------------------------

    @property
    def followers(self) -> int:
        return len(self._followers)

    @asynccontextmanager
    async def follow(self, buffer: int, topics: TopicFilter) -> AsyncIterator[Follower]:
        """Stored events ``topics`` lets through, after the newest stored id; cut off if ``buffer`` fills."""
        send, receive = anyio.create_memory_object_stream[Event](buffer)
        follower = Follower(receive, self.stored_id)
        self._followers[id(send)] = _Entry(send, topics.matches, follower)
        try:
            async with receive:
                yield follower
        finally:
            self._followers.pop(id(send), None)
            send.close()

    async def replay(self, after: int, upto: int, topics: TopicFilter) -> AsyncGenerator[list[Event], None]:
        """The events with ``after < id <= upto`` that ``topics`` lets through, oldest first, in batches.

        Raises:
            ReplayGap: some of them are no longer kept or were never stored; take a new snapshot.
        """
        if after > upto:
            raise ReplayGap(f"event {after} is newer than the newest stored event ({upto})")
        if after == upto:
            return
        if self._lost_through > after:
            raise ReplayGap(f"events after {after} were dropped before they were stored")
        recent = list(self._recent)
        if recent and recent[0].id <= after + 1:
            yield [event for event in recent if after < event.id <= upto and topics.matches(event)]
            return
        try:
            oldest = await _shielded(self._store.oldest_id())
            if oldest is None or oldest > after + 1:
                raise ReplayGap(f"events after {after} are no longer kept (the oldest kept is {oldest})")
            cursor = after
            while cursor < upto:
                page = await _shielded(self._store.page(cursor, upto, topics, PAGE_SIZE))
                if page:
                    yield page
                if len(page) < PAGE_SIZE:
                    break
                cursor = page[-1].id
            oldest = await _shielded(self._store.oldest_id())
        except TimeoutError as exc:
            raise ReplayGap(f"the store did not answer within {WRITE_TIMEOUT_S:g} s") from exc
        if oldest is None or oldest > after + 1:
            raise ReplayGap(f"events after {after} were pruned during the replay")


async def _shielded(operation: Awaitable[T]) -> T:
    """Run a store call to its end even when the caller is cancelled meanwhile.

    Raises: TimeoutError when it takes longer than ``WRITE_TIMEOUT_S``.

    A query cancelled half-way leaves its pooled connection to be torn down in a
    task of SQLAlchemy's own, which can outlive the hub's event loop.
    """
    with anyio.CancelScope(shield=True), anyio.fail_after(WRITE_TIMEOUT_S):
        result = await operation
    return result
