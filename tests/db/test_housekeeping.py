"""Housekeeping of a SQLite store: the WAL stays bounded under sustained writes and readers, and pages
freed by retention go back to the file system."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from sqlalchemy import delete

from corral.audit.models import AuditEntry
from corral.audit.store import AuditRow, AuditStore
from corral.db.engine import Database, open_database
from corral.db.housekeeping import StoreKeeper
from corral.db.migrate import upgrade

pytestmark = pytest.mark.anyio

LIMIT = 512 * 1024


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    opened = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await upgrade(opened)
    yield opened
    await opened.close()


async def write_audit(database: Database, batches: int, rows: int = 200) -> None:
    store = AuditStore(database)
    now = datetime.now(UTC)
    for _ in range(batches):
        await store.append(
            [AuditEntry(now, "a", "tool.call", "echo/echo", "ok", detail={"pad": "x" * 500})] * rows
        )


def wal_bytes(database: Database) -> int:
    return StoreKeeper(database).wal_bytes()


async def test_a_wal_grown_past_its_limit_while_a_reader_held_it_is_emptied_once_the_reader_is_done(
    database: Database, tmp_path: Path
) -> None:
    reader = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM audit").fetchone()  # holds its snapshot: no checkpoint can reset
    await write_audit(database, 30)
    held = wal_bytes(database)
    reader.execute("COMMIT")
    reader.close()

    tidied = await StoreKeeper(database, wal_limit_bytes=LIMIT).tidy()

    assert held > 4 * LIMIT
    assert tidied.wal_bytes == wal_bytes(database) == 0


@pytest.mark.slow
async def test_the_wal_stays_bounded_under_sustained_writes_with_overlapping_readers(
    database: Database,
) -> None:
    """Readers that always overlap keep SQLite's own checkpoints from starting the WAL over."""
    sizes: list[int] = []

    async def read_forever(offset: float) -> None:
        await anyio.sleep(offset)
        while True:
            async with database.sessions() as session, session.begin():
                await session.execute(AuditRow.__table__.select().limit(1))
                await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_forever, 0.0)
        tg.start_soon(read_forever, 0.01)
        await tg.start(StoreKeeper(database, interval_s=0.2, wal_limit_bytes=LIMIT).run)
        for _ in range(40):
            await write_audit(database, 2)
            sizes.append(wal_bytes(database))
        tg.cancel_scope.cancel()

    restarts = sum(later < earlier for earlier, later in zip(sizes, sizes[1:], strict=False))
    assert restarts >= 3, sizes
    assert max(sizes) < 16 * LIMIT, sizes  # the limit, plus what one interval's writes add


async def test_pages_freed_by_pruning_go_back_to_the_file_system(database: Database, tmp_path: Path) -> None:
    await write_audit(database, 40)
    async with database.write() as session:
        await session.execute(delete(AuditRow))
    with closing(sqlite3.connect(tmp_path / "store.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = (tmp_path / "store.db").stat().st_size

    tidied = await StoreKeeper(database).tidy()

    assert tidied.released_pages >= 1000
    assert (tmp_path / "store.db").stat().st_size < grown / 2
