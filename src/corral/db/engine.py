"""Opening the store: engine, session factory, and SQLite's connection pragmas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from corral.errors import ConfigError

SETTLE_TIMEOUT_S = 2.0
T = TypeVar("T")
WAL_SIZE_LIMIT = 64 * 1024 * 1024
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sqlite_engine: Engine | None = None
    """SQLite only: the same file through the plain driver, for ``transact``."""
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

    async def transact(self, work: Callable[[Connection], T], *, flush: bool = True) -> T:
        """Run ``work`` in one write transaction that commits when it returns, in as few trips as the
        driver allows.

        The async SQLite driver runs every statement, cursor and commit on its own thread, one hop there
        and back each: a transaction of three statements costs a dozen. Here the whole transaction runs
        on a worker thread over the plain driver, one hop in all. On PostgreSQL it runs on the async
        connection (``run_sync``), where an executemany is one round trip. ``work`` must not block on
        anything but the database: on SQLite it holds the hub's write turn.

        ``flush=False`` is for logs whose loss in a crash of the database server itself (not of the
        hub) costs a little history, not correctness: on PostgreSQL the commit then does not wait for
        the WAL to reach the disk (``synchronous_commit = off``), as SQLite's commits in WAL mode with
        ``synchronous=NORMAL`` never do.
        """
        if self.sqlite_engine is None:
            async with self.engine.begin() as connection:
                if not flush:
                    await connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                return await connection.run_sync(work)
        engine = self.sqlite_engine

        def in_thread() -> T:
            with engine.begin() as connection:
                return work(connection)

        async with self._write_lock:
            # Not abandoned on cancel: the transaction ends (commit or rollback) before the turn is given
            # up; SQLite's busy timeout bounds the wait.
            return await anyio.to_thread.run_sync(in_thread)

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
        if self.sqlite_engine is not None:
            self.sqlite_engine.dispose()


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
    if backend == "postgresql":
        # No pre-ping: it costs a round trip per checkout; recycling retires connections a restarted
        # server would have dropped.
        engine = create_async_engine(
            parsed.set(drivername="postgresql+asyncpg"), pool_recycle=1800, pool_size=10, max_overflow=20
        )
        return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))
    if backend != "sqlite":
        raise ConfigError(f"database_url: unsupported backend {backend!r}; use sqlite or postgresql")
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed.set(drivername="sqlite+aiosqlite"))
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    # The same file through the plain driver; its connections serve one worker thread at a time, not
    # always the same one.
    plain = create_engine(parsed.set(drivername="sqlite"), connect_args={"check_same_thread": False})
    event.listen(plain, "connect", _sqlite_pragmas)
    return Database(
        engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False), sqlite_engine=plain
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout rides out short write locks.
    # Incremental auto-vacuum applies to a new store only (set before its first table); it lets
    # housekeeping give pages freed by retention back. The size limit trims the WAL file after a
    # checkpoint that emptied it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
