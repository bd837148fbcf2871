"""Housekeeping of a SQLite store: a write-ahead log that stays bounded, and pages retention freed given
back to the file system.

SQLite checkpoints its WAL by itself once it passes 1000 pages, but a checkpoint cannot start the WAL
over while a reader still needs its frames, so under reads and writes that never pause the file keeps
growing. Every ``interval_s`` the keeper runs a PASSIVE checkpoint (it waits for no one); when the WAL
file is still larger than ``wal_limit_bytes``, a TRUNCATE one in the hub's write turn, which waits
briefly for readers and empties it. When more than ``FREE_FRACTION`` of the file is free pages (after
retention deleted much, or limits were lowered), it releases them in steps of ``RELEASE_PAGES``, each its
own short write. PostgreSQL needs none of this: its autovacuum makes deleted rows' space reusable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from sqlalchemy.exc import SQLAlchemyError

from corral.db.engine import WAL_SIZE_LIMIT, Database

logger = logging.getLogger(__name__)

INTERVAL_S = 10.0
FREE_FRACTION = 0.25
RELEASE_PAGES = 1000
STORE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Tidied:
    wal_bytes: int
    """The WAL file's size after the checkpoints."""
    released_pages: int


class StoreKeeper:
    def __init__(
        self, database: Database, *, interval_s: float = INTERVAL_S, wal_limit_bytes: int = WAL_SIZE_LIMIT
    ) -> None:
        self._db = database
        self._interval_s = interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self.last = Tidied(0, 0)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Tidy a SQLite store every ``interval_s`` until cancelled; on PostgreSQL, return at once."""
        task_status.started()
        if self._db.wal_path is None:
            return
        while True:
            try:
                with anyio.CancelScope(shield=True), anyio.fail_after(STORE_TIMEOUT_S):
                    self.last = await self.tidy()
            except (SQLAlchemyError, TimeoutError, OSError) as exc:
                logger.warning("store housekeeping failed: %s", exc)
            await anyio.sleep(self._interval_s)

    async def tidy(self) -> Tidied:
        """Release free pages, then checkpoint the WAL (truncating it when it grew past the limit); in WAL
        mode the database file shrinks when the checkpoint copies the release into it."""
        released = 0
        free, total = await self._db.free_pages()
        while free > FREE_FRACTION * total and free > RELEASE_PAGES:
            await self._db.release_pages(RELEASE_PAGES)
            left, total = await self._db.free_pages()
            if left >= free:  # a store made without incremental auto-vacuum: VACUUM it once
                break
            released += free - left
            free = left
        await self._db.checkpoint(truncate=False)
        if self._wal_bytes() > self._wal_limit_bytes:
            await self._db.checkpoint(truncate=True)
        return Tidied(self._wal_bytes(), released)

    def _wal_bytes(self) -> int:
        path = self._db.wal_path
        try:
            return path.stat().st_size if path is not None else 0
        except FileNotFoundError:
            return 0
