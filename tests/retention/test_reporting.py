"""A running hub reports the event stream's resume window and what retention pruned, in /api/v1 and
/metrics."""

from __future__ import annotations

from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.rig import RunHub

pytestmark = pytest.mark.anyio


async def test_the_resume_window_and_pruned_rows_are_reported_in_the_api_and_the_metrics(
    run_hub: RunHub,
) -> None:
    async with run_hub() as running:
        published = [running.hub.bus.publish("metrics", "test.event", "hub") for _ in range(5)]
        await running.wait_for(lambda: running.hub.event_log.stored_id >= published[-1].id)
        changed = await running.client.patch("/api/v1/settings", json={"events_keep_rows": 2})
        await running.hub.pruner.prune()
        report = (await running.client.get("/api/v1/retention")).json()
        scraped = (await running.client.get("/metrics")).text

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    window = report["resume_window"]
    assert changed.status_code == 200, changed.text
    assert window["newest_event_id"] >= published[-1].id
    assert window["oldest_event_id"] == window["newest_event_id"] - 1
    assert datetime.fromisoformat(window["oldest_event_time"]) <= running.hub.clock.now()
    assert report["kinds"]["events"]["deleted"] >= 4
    assert report["archive_dir"] == str(running.data_dir / "archive")
    assert samples[("corral_event_log_oldest_id", ())] == window["oldest_event_id"]
    assert samples[("corral_event_log_resume_window_seconds", ())] >= 0
    assert samples[("corral_retention_deleted_rows_total", (("kind", "events"),))] >= 4
    assert samples[("corral_retention_failing", (("kind", "audit"),))] == 0
