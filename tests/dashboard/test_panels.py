"""What the other browser tests pass by: an image result drawn, the event window's filters, and the
audit feed's live rows, filters and export."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


def test_an_image_result_is_drawn_as_an_image(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("conformance"))
    tab = dashboard(hub).open("tools/conformance__test_image_content")
    tab.page.wait_for_selector("[data-tool-page='conformance__test_image_content']")
    tab.page.click("[data-action=call]")
    tab.page.wait_for_selector("[data-call=done]")

    image = tab.page.wait_for_selector("img[alt='image result']")
    assert (image.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert tab.page.evaluate("document.querySelector(\"img[alt='image result']\").naturalWidth") == 1
    assert tab.problems == []


def test_the_event_window_filters_its_messages_by_type_and_text(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("servers")
    tab.page.click("[data-open=events]")
    tab.page.wait_for_selector("[data-panel=events]")
    assert hub.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "one"}}).status_code == 200
    tab.page.wait_for_function("() => document.querySelectorAll('[data-messages] li').length >= 2")

    tab.page.fill("[data-panel=events] input[type=search]", "no event says this")
    tab.page.wait_for_function("() => document.querySelectorAll('[data-messages] li').length === 0")
    tab.page.fill("[data-panel=events] input[type=search]", "")
    [kind, *_] = tab.page.eval_on_selector_all(
        "[data-panel=events] select option", "options => options.map(o => o.value).filter(Boolean)"
    )
    tab.page.select_option("[data-panel=events] select", kind)
    types = tab.page.eval_on_selector_all("[data-messages] li strong", "els => els.map(e => e.textContent)")
    assert types and set(types) == {kind}
    assert tab.problems == []


def test_the_audit_feed_shows_calls_live_filters_them_and_exports_them(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("audit")
    tab.page.wait_for_selector("[data-filter=action]")
    assert (
        hub.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "audited"}}).status_code == 200
    )
    tab.page.wait_for_selector("[data-table=audit] tr[data-audit='tool.call']")  # live, from the stream

    tab.page.fill("[data-filter=action]", "tool.call")
    tab.page.press("[data-filter=action]", "Enter")
    tab.page.wait_for_function(
        "() => [...document.querySelectorAll('[data-table=audit] tbody tr')]"
        ".every(row => row.dataset.audit === 'tool.call')"
    )
    with tab.page.expect_download() as download:
        tab.page.click("[data-export=jsonl]")
    path = download.value.path()
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert entries and all(entry["action"] == "tool.call" for entry in entries)
    assert tab.problems == []
