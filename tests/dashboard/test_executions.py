"""Workflows from the page: started from a form, a DAG that turns green step by step, a held step decided."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard, fleet, kill
from tests.support import HubProcess, wait_until

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]

PAUSE = "{{ params.pause }}"
CHAIN = {
    "workflow_id": "chain",
    "name": "Three steps in a row",
    "params": {"pause": {"type": "number", "default": 0.4, "description": "Seconds each step sleeps."}},
    "steps": [
        {"id": "one", "tool": "slow__sleep", "args": {"seconds": PAUSE}},
        {"id": "two", "tool": "slow__sleep", "args": {"seconds": PAUSE}, "dependencies": ["one"]},
        {"id": "three", "tool": "echo__echo", "args": {"text": "done"}, "dependencies": ["two"]},
    ],
}
HELD = {
    "workflow_id": "held",
    "name": "A long step, then another",
    "steps": [
        {"id": "long", "tool": "slow__sleep", "args": {"seconds": 60}, "on_uncertain": "hold"},
        {"id": "after", "tool": "echo__echo", "args": {"text": "after"}, "dependencies": ["long"]},
    ],
}


def create(hub: HubProcess, definition: dict[str, Any]) -> None:
    response = hub.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text


def test_a_started_execution_turns_its_steps_green_one_by_one(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo", "slow"))
    create(hub, CHAIN)
    tab = dashboard(hub).open("workflows/chain")
    tab.page.wait_for_selector("[data-workflow-page=chain] [data-dag] [data-step=one]")
    tab.page.fill("[data-field='param.pause'] input", "0.5")
    tab.page.click("[data-action=start]")
    tab.page.wait_for_selector("[data-execution-page] [data-dag] [data-step=one]")
    tab.page.evaluate("""() => {
      window.__green = [];
      new MutationObserver(() => {
        for (const node of document.querySelectorAll("[data-dag] [data-step-status=completed]")) {
          if (!window.__green.includes(node.dataset.step)) window.__green.push(node.dataset.step);
        }
      }).observe(document.querySelector("[data-dag]"), { subtree: true, attributes: true, childList: true });
    }""")
    tab.page.wait_for_selector("[data-execution-page][data-status=completed]", timeout=20_000)
    tab.page.wait_for_selector("[data-step=three][data-step-status=completed]")
    assert tab.page.evaluate("window.__green") == ["one", "two", "three"]
    execution_id = tab.page.get_attribute("[data-execution-page]", "data-execution-page")
    assert hub.get(f"/api/v1/executions/{execution_id}").json()["status"] == "completed"
    assert tab.page.locator("[data-step-row]").count() == 3
    tab.page.wait_for_selector("[data-step-row=three] code:has-text('done')")
    assert tab.page.text_content("[data-step-row=one] td.num") == "1", "an attempt is counted once"


def test_a_step_held_after_a_hub_crash_is_decided_from_the_page(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], restart_hub: Callable[[HubProcess], HubProcess]
) -> None:
    hub = start_hub(fleet("echo", "slow"))
    create(hub, HELD)
    execution_id = hub.post("/api/v1/workflows/held/execute", json={}).json()["execution_id"]
    tab = dashboard(hub).open(f"executions/{execution_id}")
    tab.page.wait_for_selector("[data-step=long][data-step-status=running]")
    tab.allow(r"WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED")
    kill(hub)
    again = restart_hub(hub)
    tab.page.wait_for_selector("[data-held=long]", timeout=15_000)
    assert tab.page.get_attribute("[data-step=long]", "data-step-status") == "held"
    tab.page.click("[data-held=long] button[data-action=skip]")
    tab.page.wait_for_selector("[data-step=long][data-step-status=skipped]", timeout=10_000)
    tab.page.wait_for_selector("[data-execution-page][data-status=completed]", timeout=10_000)
    assert tab.page.locator("[data-held]").count() == 0
    wait_until(lambda: again.get(f"/api/v1/executions/{execution_id}").json()["status"] == "completed")
