"""Calling a tool from the page: a form from its schema, progress as it comes, a cancel the server hears."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess, server_entry, wait_until

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


def test_a_slow_tool_shows_its_progress_and_a_cancel_reaches_the_server(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    hub = start_hub(fleet(slow=server_entry("slow", CORRAL_TEST_MARKER_DIR=str(markers))))
    tab = dashboard(hub).open("tools/slow__slow")
    tab.page.wait_for_selector("[data-tool-page='slow__slow']")
    tab.page.fill("[data-field='arg.steps'] input", "100")
    tab.page.fill("[data-field='arg.delay'] input", "0.1")
    tab.page.click("[data-action=call]")
    tab.page.wait_for_selector("[data-call=running]")
    progressed = "() => Number(document.querySelector('[data-progress]')?.dataset.progress) >= 2"
    tab.page.wait_for_function(progressed)
    assert "step" in tab.page.text_content("[data-progress]")
    tab.page.click("[data-action=cancel]")
    tab.page.wait_for_selector("[data-call=cancelled]")
    wait_until(lambda: (markers / "cancelled-slow").exists(), timeout=10)
    tab.page.wait_for_selector("[data-table=calls] tr[data-tool='slow__slow'] [data-status=cancelled]")


def test_a_call_renders_its_result_and_another_browser_replays_it_from_the_audit_trail(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("tools")
    tab.page.fill("[data-filter=tools]", "echo__ec")
    tab.page.wait_for_function("() => document.querySelectorAll('[data-tool]').length === 1")
    tab.page.click("[data-tool='echo__echo']")
    tab.page.fill("[data-field='arg.text'] input", "hello from the page")
    tab.page.click("[data-action=call]")
    tab.page.wait_for_selector("[data-call=done]")
    assert "hello from the page" in tab.page.text_content("[data-result=ok]")
    tab.page.wait_for_selector("[data-table=calls] tr[data-tool='echo__echo']")

    elsewhere = dashboard(hub).open("tools/echo__add")  # a browser of its own: nothing in its storage
    assert elsewhere.page.evaluate("localStorage.getItem('corral.calls')") is None
    elsewhere.page.click("[data-table=calls] tr[data-tool='echo__echo'] [data-action=replay]")
    elsewhere.page.wait_for_selector("[data-tool-page='echo__echo']")
    assert elsewhere.page.input_value("[data-field='arg.text'] input") == "hello from the page"
    elsewhere.page.click("[data-action=call]")
    elsewhere.page.wait_for_selector("[data-call=done]")
    two_calls = "() => document.querySelectorAll('[data-table=calls] tr[data-tool]').length === 2"
    elsewhere.page.wait_for_function(two_calls)


def test_a_form_drawn_from_the_schema_sends_what_was_filled_in(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("forms"))
    tab = dashboard(hub).open("tools/forms__order")
    page = tab.page
    page.wait_for_selector("[data-tool-page='forms__order']")
    page.fill("[data-field='arg.order_id'] input", "A-1")
    page.select_option("[data-field='arg.priority'] select", '"high"')  # an enum
    items = page.locator("[data-field='arg.items']")  # an array of $ref
    add_item = items.get_by_role("button", name="Add item")
    add_item.click()
    add_item.click()
    page.fill("[data-field='arg.items.0.sku'] input", "bolt")
    page.fill("[data-field='arg.items.0.quantity'] input", "3")
    page.select_option("[data-field='arg.items.0.colour'] select", '"red"')  # anyOf [enum, null]
    page.fill("[data-field='arg.items.1.sku'] input", "nut")
    page.fill("[data-field='arg.items.1.quantity'] input", "5")
    page.fill("[data-field='arg.ship_to.city'] input", "Lyon")  # a $ref object
    page.fill("[data-field='arg.ship_to.zip'] input", "69001")
    page.locator("[data-field='arg.contact']").get_by_label("Kind").select_option(label="string")  # anyOf
    page.fill("[data-field='arg.contact.1'] input", "ops@example.com")
    page.fill("[data-field='arg.extra'] textarea", '{"gift": true, "tags": ["a"]}')  # only JSON fits
    page.click("[data-action=call]")
    page.wait_for_selector("[data-call=done]")

    sent = {
        "order_id": "A-1",
        "priority": "high",
        "items": [{"sku": "bolt", "quantity": 3, "colour": "red"}, {"sku": "nut", "quantity": 5}],
        "ship_to": {"city": "Lyon", "zip": "69001"},
        "contact": "ops@example.com",
        "extra": {"gift": True, "tags": ["a"]},
    }
    assert received(page) == sent
    audited = wait_until(lambda: hub.get("/api/v1/audit", params={"action": "tool.call"}).json()["items"])
    assert audited[0]["detail"]["arguments"] == sent

    # The raw JSON mode starts from what the form holds; what is typed there is what is sent.
    page.check("[data-toggle=raw]")
    assert json.loads(page.input_value("[data-raw]")) == sent
    page.fill("[data-raw]", json.dumps({**sent, "contact": 42, "items": [], "note": "by hand"}))
    page.click("[data-action=call]")
    by_hand = "() => document.querySelector('[data-result=ok] pre')?.textContent.includes('by hand')"
    page.wait_for_function(by_hand)
    assert received(page) == {**sent, "contact": 42, "items": [], "note": "by hand"}


def received(page: Any) -> Any:
    """What the forms server said it received (its result's text is that JSON)."""
    return json.loads(page.text_content("[data-result=ok] pre.result") or "null")
