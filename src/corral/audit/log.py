"""Writing audit entries off the hot path: callers enqueue, one writer task stores them in batches.

The queue is bounded; when the store cannot keep up, entries wait in memory up
to the bound and then the oldest excess is dropped with a warning, rather than
slowing every tool call down to the speed of the disk.
"""

from __future__ import annotations

import logging

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from corral.audit.models import AuditEntry
from corral.audit.store import AuditStore

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH_SIZE = 500


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self._store = store
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
        with self._send, self._receive:
            try:
                async for first in self._receive:
                    await self._store.append([first, *self._drain()])
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self._store.append(self._drain(limit=QUEUE_SIZE))

    def _drain(self, limit: int = BATCH_SIZE) -> list[AuditEntry]:
        batch: list[AuditEntry] = []
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return batch
