"""Housekeeping of a SQLite store: a write-ahead log that stays bounded, and pages retention freed given
back to the file system.

SQLite checkpoints its WAL by itself once it passes 1000 pages, but a checkpoint cannot start the WAL
over while a reader still needs its frames, so under reads and writes that never pause the file keeps
growing. Every ``interval_s`` the keeper runs a PASSIVE checkpoint (it waits for no one); when the WAL
file is still larger than ``wal_limit_bytes``, a TRUNCATE one in the hub's write turn, which waits
briefly for readers and empties it. When more than ``FREE_FRACTION`` of the file is free pages (after
retention deleted much, or limits were lowered), it releases them in steps of ``RELEASE_PAGES``, each its
own short write. PostgreSQL needs none of this: its autovacuum makes deleted rows' space reusable.

Each step runs through ``Database.transact``: in the hub's write turn, on a worker thread over the
plain driver, which opens no SQLite transaction for a pragma (a checkpoint cannot run inside one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from corral.db.engine import BUSY_TIMEOUT_MS, WAL_SIZE_LIMIT, Database

logger = logging.getLogger(__name__)

INTERVAL_S = 10.0
FREE_FRACTION = 0.25
RELEASE_PAGES = 1000
STORE_TIMEOUT_S = 10.0
CHECKPOINT_WAIT_MS = 200
"""How long a TRUNCATE checkpoint waits for readers: it holds the hub's writers up meanwhile, and a later
try will do."""


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
        plain = database.sqlite_engine
        self._wal = Path(f"{plain.url.database}-wal") if plain is not None and plain.url.database else None
        self._interval_s = interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self.last = Tidied(0, 0)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Tidy a SQLite store every ``interval_s`` until cancelled; on PostgreSQL, return at once."""
        task_status.started()
        if self._wal is None:
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
        free, total = await self._db.transact(_free_pages)
        while free > FREE_FRACTION * total and free > RELEASE_PAGES:
            left, total = await self._db.transact(_release_pages)
            if left >= free:  # a store made without incremental auto-vacuum: VACUUM it once
                break
            released += free - left
            free = left
        await self._db.transact(_passive_checkpoint)
        if self.wal_bytes() > self._wal_limit_bytes:
            await self._db.transact(_truncate_checkpoint)
        return Tidied(self.wal_bytes(), released)

    def wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size if self._wal is not None else 0
        except FileNotFoundError:
            return 0


def _free_pages(connection: Connection) -> tuple[int, int]:
    free = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
    total = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    return int(free), int(total)


def _release_pages(connection: Connection) -> tuple[int, int]:
    # A script: stepped once, as a plain statement is, the pragma releases one page only.
    connection.connection.driver_connection.executescript(  # type: ignore[union-attr]
        f"PRAGMA incremental_vacuum({RELEASE_PAGES});"
    )
    return _free_pages(connection)


def _passive_checkpoint(connection: Connection) -> None:
    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _truncate_checkpoint(connection: Connection) -> None:
    connection.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
    try:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
