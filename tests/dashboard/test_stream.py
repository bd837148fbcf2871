"""The page and the hub's event stream when the stream cannot simply go on: the hub no longer keeps the
events the page missed (reset), or closes the page's socket because it asks too much (4429: too many
messages, or connects over its token's rate limit) or reads too slowly (4503). The page says so in its
banner and comes back by itself, without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard, fleet, kill
from tests.support import HubProcess, wait_until

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


# Installed before the page's own scripts: the browser notes, by its own clock, when each of the tab's
# sockets was made and closed (with which code), and whether the hub told it to reset.
WATCH_SOCKETS = """
window.__sockets = [];
const Native = WebSocket;
window.WebSocket = class extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    const entry = { url, made: performance.now(), closed: null, code: null, reason: "" };
    Object.assign(entry, { heard: false, reset: false });
    window.__sockets.push(entry);
    this.addEventListener("close", (e) => {
      Object.assign(entry, { closed: performance.now(), code: e.code, reason: e.reason });
    });
    this.addEventListener("message", (m) => {
      entry.heard = true;
      if (typeof m.data === "string" && m.data.includes('"type":"reset"')) entry.reset = true;
    });
  }
};
"""


def sockets(tab: Dashboard) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tab.page.evaluate("window.__sockets")
    return found


def rows(tab: Dashboard) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = tab.page.eval_on_selector_all(
        "tr[data-server]", "rows => rows.map(r => [r.dataset.server, r.dataset.status])"
    )
    return [tuple(row) for row in found]  # type: ignore[misc]


def test_events_no_longer_kept_make_the_page_take_a_new_snapshot_without_a_reload(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], restart_hub: Callable[[HubProcess], HubProcess]
) -> None:
    # The hub keeps no events in memory and one in its store, pruned ten times a second.
    forgetful = {
        "hub": {"events": {"memory_events": 0}},
        "settings": {"events_keep_rows": 1, "prune_interval_s": 0.1},
    }
    hub = start_hub({**fleet("echo", "slow"), **forgetful})
    tab = dashboard(hub)
    tab.page.add_init_script(WATCH_SOCKETS)
    tab.open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.wait_row_status("slow", "healthy")
    tab.page.evaluate("window.__loaded = true")
    tab.allow(r"WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED")
    kill(hub)
    tab.page.wait_for_selector("[data-connection=reconnecting]", timeout=5000)
    again = restart_hub(hub)

    tab.page.wait_for_function("() => window.__sockets.some((socket) => socket.reset)", timeout=10_000)
    expected = wait_until(
        lambda: sorted((s["name"], s["status"]) for s in again.get("/api/v1/servers").json()["items"])
    )
    wait_until(
        lambda: sorted(rows(tab)) == expected == [("echo", "healthy"), ("slow", "healthy")], timeout=10
    )
    assert tab.page.evaluate("window.__loaded") is True, "the page was not reloaded"
    assert len(rows(tab)) == 2, "no duplicate rows"
    assert all("last_event_id=" in socket["url"] for socket in sockets(tab)[1:])
    assert tab.page.query_selector("[data-connection]") is None


def test_a_tab_over_its_message_rate_is_told_so_and_comes_back_no_sooner_than_a_second(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    # Pinged five times a second, the page answers five pongs a second: over a limit of one.
    strict = {"events": {"ping_interval_s": 0.2, "max_messages_per_s": 1}}
    hub = start_hub({**fleet("echo"), "hub": strict})
    tab = dashboard(hub)
    tab.page.add_init_script(WATCH_SOCKETS)
    tab.open("servers")
    notice = tab.page.wait_for_selector("[data-connection][data-close-code='4429'] [data-notice]")
    assert "limiting this tab" in (notice.text_content() or "")
    assert "too many messages" in (notice.text_content() or "")
    tab.page.wait_for_function("() => window.__sockets.length >= 2")
    first, second = sockets(tab)[:2]
    assert first["code"] == 4429
    waited_ms = second["made"] - first["closed"]
    assert waited_ms >= 1000, f"the next attempt came {waited_ms:.0f} ms after the close"
    assert "last_event_id=" in second["url"], "it resumes from the last event it applied"
    tab.wait_row_status("echo", "healthy")


def test_a_tab_over_its_tokens_rate_limit_waits_as_long_as_the_hub_says(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    # The page's session may make one request every two seconds, three at once (the admin token is
    # never limited, but the page swaps it for a session at once). Pinged five times a second, a socket
    # the hub took hears from it at once, though a resumed one gets no snapshot.
    limits = {"auth": {"rate_limit_per_s": 0.5, "rate_limit_burst": 3}, "events": {"ping_interval_s": 0.2}}
    hub = start_hub({**fleet("echo"), "hub": limits})
    tab = dashboard(hub)
    tab.page.add_init_script(WATCH_SOCKETS)
    tab.open("servers")
    tab.page.click("[data-open=events]")
    reconnect = tab.page.locator("[data-panel=events] [data-action=reconnect]")

    def refused() -> bool:
        made = len(sockets(tab))
        reconnect.click()
        # Settled: the hub either took the new socket (it sent something) or closed it.
        settled = "n => { const s = window.__sockets[n]; return s && (s.heard || s.closed !== null); }"
        tab.page.wait_for_function(settled, arg=made)
        return bool(sockets(tab)[made]["code"] == 4429)

    wait_until(refused, timeout=20, interval=0.05)
    notice = tab.page.text_content("[data-connection] [data-notice]") or ""
    assert "rate limited; retry in" in notice, notice
    cut = next(i for i, socket in enumerate(sockets(tab)) if socket["code"] == 4429)
    tab.page.wait_for_function("n => window.__sockets.length > n", arg=cut + 1)
    closed, after = sockets(tab)[cut], sockets(tab)[cut + 1]
    asked = re.search(r"retry in ([\d.]+) s", closed["reason"])
    assert asked, closed["reason"]
    assert after["made"] - closed["closed"] >= max(1000, float(asked[1]) * 1000)
    tab.wait_connected()
    tab.wait_row_status("echo", "healthy")


def test_a_tab_dropped_as_a_slow_consumer_says_so_and_catches_up_without_duplicates(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    # One event waiting for the tab is all it may have: a burst of events cuts it off (4503).
    hub = start_hub({**fleet("echo"), "hub": {"events": {"client_buffer_events": 1}}})
    tab = dashboard(hub)
    tab.page.add_init_script(WATCH_SOCKETS)
    tab.open("servers")
    tab.wait_row_status("echo", "healthy")

    def cut_off() -> bool:
        for _ in range(5):
            assert hub.post("/api/v1/servers/echo/reload").status_code == 200
        return tab.page.query_selector("[data-connection][data-close-code='4503']") is not None

    wait_until(cut_off, timeout=20, interval=0.2)
    notice = tab.page.text_content("[data-connection] [data-notice]") or ""
    assert "falling behind at event" in notice, notice
    cut = next(i for i, socket in enumerate(sockets(tab)) if socket["code"] == 4503)
    tab.page.wait_for_function("n => window.__sockets.length > n", arg=cut + 1)
    after = sockets(tab)[cut + 1]
    assert after["made"] - sockets(tab)[cut]["closed"] >= 1000
    assert "last_event_id=" in after["url"]
    tab.wait_connected()
    tab.wait_row_status("echo", "healthy")
    assert rows(tab) == [("echo", "healthy")], "no duplicate rows"
