"""Writing audit entries off the hot path: callers enqueue, one writer task stores them in batches.

Each entry is published on the event bus (topic ``audit``) once it is stored.

The queue is bounded; when the store cannot keep up, entries wait in memory up
to the bound and then the oldest excess is dropped with a warning, rather than
slowing every tool call down to the speed of the disk.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sqlalchemy.exc import SQLAlchemyError

from corral.audit.models import AuditEntry
from corral.audit.store import AuditStore
from corral.events.bus import EventBus

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH_SIZE = 500
BATCH_LINGER_S = 0.25
WRITE_TIMEOUT_S = 10.0
FINAL_WRITE_S = 5.0
RETRY_AFTER_S = 1.0


class AuditLog:
    def __init__(self, store: AuditStore, bus: EventBus | None = None) -> None:
        self._store = store
        self._bus = bus
        self._send: MemoryObjectSendStream[AuditEntry]
        self._receive: MemoryObjectReceiveStream[AuditEntry]
        self._send, self._receive = anyio.create_memory_object_stream[AuditEntry](QUEUE_SIZE)
        self.dropped = 0

    def record(self, entry: AuditEntry) -> None:
        try:
            self._send.send_nowait(entry)
        except anyio.WouldBlock:
            self.dropped += 1
            logger.warning("audit queue full: dropped an entry for %s %s", entry.action, entry.target)
        except anyio.ClosedResourceError:
            logger.warning("audit log closed: dropped an entry for %s %s", entry.action, entry.target)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        pending: list[AuditEntry] = []
        with self._send, self._receive:
            try:
                async for first in self._receive:
                    # Gather what arrives in a moment into one transaction: one write per tool call
                    # would cost every call a transaction when calls come one at a time. Held in
                    # ``pending`` meanwhile, so that a shutdown during the wait still stores it.
                    pending = [first]
                    await anyio.sleep(BATCH_LINGER_S)
                    pending += self._drain()
                    # A store that cannot take the batch (a full disk, a database gone) gets it again
                    # until it can; new entries wait in the queue meanwhile, up to its bound.
                    while True:
                        if await self._store_and_publish(pending, WRITE_TIMEOUT_S):
                            break
                        await anyio.sleep(RETRY_AFTER_S)
                    pending = []
            finally:
                await self._store_and_publish([*pending, *self._drain(limit=QUEUE_SIZE)], FINAL_WRITE_S)

    async def _store_and_publish(self, batch: list[AuditEntry], within_s: float) -> bool:
        """Store a batch, then announce it: the event log gets the batch's events together, and
        stores them in one transaction as well. False when the store did not take it."""
        # Shielded: a write cancelled half-way leaves its connection for a teardown that can outlive
        # the event loop (and hang its close).
        with anyio.CancelScope(shield=True), anyio.move_on_after(within_s):
            try:
                await self._store.append(batch)
            except (SQLAlchemyError, OSError) as exc:  # asyncpg's refused connection is an OSError
                logger.warning("could not store %d audit entries (will retry): %s", len(batch), exc)
                return False
            if self._bus is not None:
                for entry in batch:
                    self._bus.publish("audit", "audit.recorded", entry.target, published(entry))
            return True
        logger.warning("could not store %d audit entries within %g s (will retry)", len(batch), within_s)
        return False

    def _drain(self, limit: int = BATCH_SIZE) -> list[AuditEntry]:
        batch: list[AuditEntry] = []
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return batch


def published(entry: AuditEntry) -> dict[str, Any]:
    """The data of the ``audit.recorded`` event that announces ``entry``."""
    return {
        "time": entry.time.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "source": entry.source,
        "duration_ms": entry.duration_ms,
        "detail": entry.detail,
    }
