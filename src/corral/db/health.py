"""Whether the store can take writes now: probed every few seconds, reported by ``/readyz``.

A probe asks the store a trivial query within ``PROBE_TIMEOUT_S`` and, on SQLite, checks that the
file system holding the store has ``MIN_FREE_BYTES`` left. Either failing makes ``problem`` say why
(the hub reports not ready, and a write that fails meanwhile is answered 503 ``store_unavailable``);
the next good probe clears it. Recovery itself needs nothing from here: SQLAlchemy replaces
connections a restarted database dropped, and SQLite writes again once there is room.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import anyio
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from corral.db.engine import Database

logger = logging.getLogger(__name__)

INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 2.0
MIN_FREE_BYTES = 1024 * 1024


class StoreHealth:
    def __init__(
        self, database: Database, *, interval_s: float = INTERVAL_S, min_free_bytes: int = MIN_FREE_BYTES
    ) -> None:
        self._db = database
        plain = database.sqlite_engine
        self._folder = Path(plain.url.database).parent if plain is not None and plain.url.database else None
        self._interval_s = interval_s
        self._min_free_bytes = min_free_bytes
        self.problem: str | None = None
        """Why the store cannot take writes now; None when it can."""

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Probe every ``interval_s`` until cancelled."""
        task_status.started()
        while True:
            found = await self.probe()
            if found != self.problem:
                if found is None:
                    logger.info("the store takes writes again")
                else:
                    logger.warning("the store cannot take writes: %s", found)
            self.problem = found
            await anyio.sleep(self._interval_s)

    async def probe(self) -> str | None:
        """Why the store cannot take writes now, or None."""
        try:
            # Shielded: a query cancelled half-way leaves its connection to SQLAlchemy's own clean-up.
            with anyio.CancelScope(shield=True), anyio.fail_after(PROBE_TIMEOUT_S):
                async with self._db.sessions() as session:
                    await session.execute(text("SELECT 1"))
        except TimeoutError:
            return f"the store did not answer within {PROBE_TIMEOUT_S:g} s"
        except (SQLAlchemyError, OSError) as exc:
            return f"the store does not answer: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
        if self._folder is not None:
            free = shutil.disk_usage(self._folder).free
            if free < self._min_free_bytes:
                return f"the store's disk is full: {free} bytes free in {self._folder}"
        return None
