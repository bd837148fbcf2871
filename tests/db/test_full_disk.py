"""A hub whose store's disk fills up: it reports not ready with the reason, refuses writes with a clear
503, keeps serving reads, and recovers by itself once there is room, with the audit entries of the
outage stored then. The store lives on a small tmpfs made for the test (mounting one needs root)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.audit.models import AuditFilter
from corral.audit.store import AuditStore
from corral.db.housekeeping import StoreKeeper
from tests.rig import RunHub, RunningHub

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHUNK = b"\0" * 65536


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the file system has no room left."""
    with path.open("ab") as filler:
        try:
            while True:
                filler.write(CHUNK)
                filler.flush()
        except OSError:
            pass


async def readiness(running: RunningHub) -> dict[str, Any]:
    answer: dict[str, Any] = (await running.client.get("/readyz")).json()
    return answer


async def test_a_full_disk_is_reported_writes_are_refused_clearly_and_the_hub_recovers_by_itself(
    run_hub: RunHub, small_disk: Path
) -> None:
    async with run_hub(data_dir=small_disk / "data") as running:
        assert (await readiness(running))["status"] == "ready"
        fill(small_disk / "filler")
        # Empty the WAL (its room would take small writes for a while), then fill what that freed.
        await StoreKeeper(running.hub.database, wal_limit_bytes=0).tidy()
        fill(small_disk / "filler2")

        not_ready = await running.wait_async(lambda: _not_ready(running), within_s=15)
        refused = await running.client.patch("/api/v1/settings", json={"failure_threshold": 4})
        reads = await running.client.get("/api/v1/servers")

        (small_disk / "filler").unlink()
        (small_disk / "filler2").unlink()
        ready = await running.wait_async(lambda: _ready(running), within_s=15)
        accepted = await running.client.patch("/api/v1/settings", json={"failure_threshold": 4})
        audit = AuditStore(running.hub.database)
        outage = await running.wait_async(
            lambda: audit.query(AuditFilter(action="settings.update", outcome="store_unavailable"), limit=5),
            within_s=15,
        )

    assert "disk is full" in not_ready["store"]
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "store_unavailable"
    assert "full" in refused.json()["detail"]
    assert reads.status_code == 200
    assert ready["store"] == "ok"
    assert accepted.status_code == 200, accepted.text
    assert len(outage) == 1


async def _not_ready(running: RunningHub) -> dict[str, Any] | None:
    answer = await readiness(running)
    return answer if answer["status"] == "not_ready" else None


async def _ready(running: RunningHub) -> dict[str, Any] | None:
    answer = await readiness(running)
    return answer if answer["status"] == "ready" else None
