"""Calling a tool from the page: a form from its schema, progress as it comes, a cancel the server hears."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    tab.page.wait_for_selector("[data-table=calls] td:text('cancelled')")


def test_a_call_renders_its_result_and_replays_from_the_history(
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
    tab.go("tools/echo__add")
    tab.page.click("[data-table=calls] button")
    tab.page.wait_for_selector("[data-tool-page='echo__echo']")
    assert tab.page.input_value("[data-field='arg.text'] input") == "hello from the page"
