"""Patterns from the page: the list, validation against a target with each precondition's verdict,
apply, and the application that follows its execution."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess, server_entry

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


def test_a_pattern_is_validated_against_a_target_then_applied_and_its_application_listed(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo", parked={**server_entry("echo"), "disabled": True}))
    listed = {pattern["id"] for pattern in hub.get("/api/v1/patterns").json()["items"]}
    tab = dashboard(hub).open("patterns")
    page = tab.page
    page.wait_for_selector("[data-pattern='restart-and-verify']")
    shown = set(page.eval_on_selector_all("[data-pattern]", "links => links.map(a => a.dataset.pattern)"))
    assert shown == listed

    page.click("[data-pattern='restart-and-verify']")
    form = page.locator("[data-pattern-page='restart-and-verify']")
    form.locator("[data-field=target]").fill("parked")
    form.locator("[data-action=validate]").click()
    form.locator("[data-verdict=refused]").wait_for()
    judged = hub.post("/api/v1/patterns/restart-and-verify/validate", json={"target": "parked", "params": {}})
    for verdict in judged.json()["preconditions"]:
        item = form.locator(f"[data-precondition='{verdict['key']}']")
        assert item.get_attribute("data-passed") == str(verdict["passed"]).lower()
        assert verdict["message"] in (item.text_content() or "")
    assert form.locator("[data-passed=false]").count() >= 1

    form.locator("[data-field=target]").fill("echo")
    form.locator("[data-action=validate]").click()
    form.locator("[data-verdict=ok]").wait_for()
    assert form.locator("[data-passed=false]").count() == 0

    form.locator("[data-action=apply]").click()
    execution = page.locator("[data-execution-page][data-status=completed]")
    execution.wait_for(timeout=30_000)
    execution_id = execution.get_attribute("data-execution-page")
    tab.go("patterns")
    row = page.locator("tr[data-application][data-pattern-id='restart-and-verify'][data-target=echo]")
    row.wait_for()
    assert row.get_attribute("data-status") == "completed"
    assert row.locator(f"a[href='#/executions/{execution_id}']").count() == 1
