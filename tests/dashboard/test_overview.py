"""The overview's charts: drawn at once from the hub's kept metrics, over the range chosen."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess, wait_until

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


def tick(ago: timedelta) -> dict[str, Any]:
    at = datetime.now(UTC) - ago
    return {
        "time": at.isoformat(), "interval_s": 0.2, "calls": 0, "calls_per_s": 0.0, "error_rate": 0.0,
        "p95_ms": None, "open_circuits": 0, "running_executions": 0,
    }  # fmt: skip


def test_the_charts_start_from_the_hubs_history_and_follow_the_chosen_range(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub({**fleet("echo"), "hub": {"events": {"metrics_interval_s": 0.2}}})
    wait_until(lambda: len(hub.get("/api/v1/metrics/history").json()["items"]) >= 10)
    tab = dashboard(hub)
    fetched: list[int] = []

    def older_history(route: Any) -> None:
        # The hub's own history, with two ticks from before it started: 50 minutes and 20 hours ago.
        response = route.fetch()
        body = response.json()
        fetched.append(len(body["items"]))
        body["items"] = [tick(timedelta(hours=20)), tick(timedelta(minutes=50)), *body["items"]]
        route.fulfill(response=response, body=json.dumps(body))

    tab.page.route("**/api/v1/metrics/history*", older_history)
    tab.open("overview")
    chart = tab.page.locator("[data-chart=calls_per_s]")

    def drawn() -> tuple[int, int]:
        return int(chart.get_attribute("data-points") or 0), int(chart.get_attribute("data-span") or 0)

    tab.page.click("input[name=range][value='5m']")
    assert fetched and fetched[0] >= 10
    points, span = drawn()
    assert span == 300 and points >= fetched[0], "the page drew the hub's history at once"
    tab.page.click("input[name=range][value='1h']")
    tab.page.wait_for_selector("[data-chart=calls_per_s][data-span='3600']")
    hour, _ = drawn()
    assert hour >= points + 1, "the tick of 50 minutes ago shows in the last hour"
    tab.page.click("input[name=range][value='24h']")
    tab.page.wait_for_selector("[data-chart=calls_per_s][data-span='86400']")
    day, _ = drawn()
    assert day >= hour + 1, "the tick of 20 hours ago shows in the last day"
    assert len(fetched) == 1, "the ranges are drawn from one read of the history"
    tab.page.wait_for_function(
        f"() => Number(document.querySelector('[data-chart=calls_per_s]').dataset.points) > {day}"
    )
    assert tab.page.evaluate("localStorage.getItem('corral.range')") == "24h"
