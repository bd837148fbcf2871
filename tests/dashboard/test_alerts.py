"""Alerts: a toast when a server leaves healthy, and none for a kind the person muted."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]

# The browser notes the kind of every toast that ever appears, however briefly.
RECORD_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver((changes) => {
    for (const change of changes) for (const node of change.addedNodes) {
      if (node.dataset && node.dataset.toast) window.__toasts.push(node.dataset.toast);
    }
  }).observe(document.querySelector(".toasts"), { childList: true });
}"""


def kill_and_wait_back(tab: Dashboard, hub: HubProcess) -> None:
    os.kill(hub.server("echo")["pid"], signal.SIGKILL)
    tab.page.wait_for_selector("tr[data-server=echo]:not([data-status=healthy])", timeout=5000)
    tab.wait_row_status("echo", "healthy", timeout_ms=20_000)


def test_a_muted_kind_of_alert_shows_no_toast_and_unmuted_it_does(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.page.evaluate(RECORD_TOASTS)
    tab.page.click("[data-menu=alerts] summary")
    tab.page.uncheck("[data-alert=server_down]")
    assert tab.page.evaluate("JSON.parse(localStorage.getItem('corral.muted'))") == ["server_down"]
    assert tab.page.is_checked("[data-alert=circuit_open]"), "the other kinds stay on"

    kill_and_wait_back(tab, hub)
    assert "server_down" not in tab.page.evaluate("window.__toasts")

    tab.page.check("[data-alert=server_down]")
    kill_and_wait_back(tab, hub)
    assert "server_down" in tab.page.evaluate("window.__toasts")
    assert tab.page.locator("[data-toast=server_down]:has-text('echo')").count() >= 1
