"""The metrics ticks a page draws its first chart from."""

from __future__ import annotations

import pytest

from tests.rig import RunHub

pytestmark = pytest.mark.anyio


async def test_the_metrics_history_holds_the_published_ticks(run_hub: RunHub) -> None:
    async with run_hub(events={"metrics_interval_s": 0.05}) as running:
        await running.wait_for(lambda: len(running.hub.metrics_ticker.history) >= 2)
        body = (await running.client.get("/api/v1/metrics/history")).json()
        assert body["interval_s"] == 0.05
        assert len(body["items"]) >= 2
        assert {"time", "calls_per_s", "error_rate", "p95_ms", "open_circuits", "running_executions"} <= set(
            body["items"][0]
        )
        since = body["items"][-1]["time"]
        later = await running.client.get("/api/v1/metrics/history", params={"since": since})
        assert all(item["time"] > since for item in later.json()["items"])
