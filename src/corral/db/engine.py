"""Opening the store: engine, session factory, and SQLite's connection pragmas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from corral.errors import ConfigError

SETTLE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _write_lock: anyio.Lock = field(default_factory=anyio.Lock)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success, for writes.

        SQLite has one writer at a time, and a transaction that read before it writes can
        fail with "database is locked" however long it waits. The hub is SQLite's only
        writer, so it takes turns itself: one write transaction at a time, the others wait
        here instead of in SQLite's retry loop. PostgreSQL runs them concurrently.
        """
        if self.dialect != "sqlite":
            async with self.sessions.begin() as session:
                yield session
            return
        async with self._write_lock, self.sessions.begin() as session:
            yield session

    async def reclaim(self) -> None:
        """Rewrite a SQLite store so that rows replaced or deleted are gone from the file (and its WAL),
        not just unlinked; used after secrets stored in clear were sealed. PostgreSQL leaves old row
        versions to its vacuum, as it always does."""
        if self.dialect != "sqlite":
            return
        async with self._write_lock, self.engine.connect() as connection:
            raw = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await raw.exec_driver_sql("VACUUM")
            await raw.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        await _settle_terminations()
        await self.engine.dispose()


async def _settle_terminations() -> None:
    """Let SQLAlchemy finish closing the connections whose queries were cancelled (bounded).

    SQLAlchemy closes such a connection in a shielded task of its own. Disposing the engine first would
    stop the driver's thread under that task, which then waits forever for an answer, and an event loop
    that waits for its tasks when it closes (the test runner's does) never closes. The task is asyncio's,
    so it is found among asyncio's tasks; Corral runs on asyncio (uvloop included).
    """
    pending = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith("_terminate_graceful_close")
    ]
    if pending:
        await asyncio.wait(pending, timeout=SETTLE_TIMEOUT_S)


def open_database(url: str) -> Database:
    """Create the engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    Raises:
        ConfigError: the URL names a backend Corral does not support.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url.replace("sqlite://", "sqlite+aiosqlite://", 1) if "+" not in url else url
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif backend == "postgresql":
        async_url = parsed.set(drivername="postgresql+asyncpg")
        # No pre-ping: it costs a round trip per checkout; recycling retires connections a restarted
        # server would have dropped.
        engine = create_async_engine(async_url, pool_recycle=1800, pool_size=10, max_overflow=20)
    else:
        raise ConfigError(f"database_url: unsupported backend {backend!r}; use sqlite or postgresql")
    return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout rides out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
