"""The page is live by construction: events move it, it rides out restarts, and at rest it is quiet."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard, fleet, kill
from tests.support import HubProcess, wait_until

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]


def rows(tab: Dashboard) -> dict[str, str]:
    found: dict[str, str] = tab.page.eval_on_selector_all(
        "tr[data-server]", "rows => Object.fromEntries(rows.map(r => [r.dataset.server, r.dataset.status]))"
    )
    return found


def test_the_sign_in_link_opens_a_signed_in_page_and_the_token_leaves_the_address_bar(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    link = wait_until(lambda: re.search(r"dashboard: (\S+)", hub.log()))[1]
    assert "#token=" in link and "?" not in link
    tab = dashboard(hub)
    requests: list[str] = []
    tab.page.on("request", lambda request: requests.append(request.url))
    tab.page.goto(link)
    tab.wait_connected()
    assert "token" not in tab.page.url
    assert not any(hub.headers()["Authorization"].removeprefix("Bearer ") in url for url in requests)
    assert tab.page.text_content("[data-role]") == "admin · admin"
    session = tab.page.evaluate("JSON.parse(localStorage.getItem('corral.session'))")
    assert session["token"].startswith("corral_at_")
    assert all("token=" not in url for url in tab.sockets), "the WebSocket authenticates by subprotocol"

    tab.page.click("[data-action=sign-out]")
    tab.page.wait_for_selector("[data-form=signin]")
    ended = hub.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {session['token']}"})
    assert ended.status_code == 401


def test_a_killed_server_leaves_healthy_within_a_second_and_comes_back_without_a_reload(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo", "slow"))
    tab = dashboard(hub).open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.page.evaluate("window.__loaded = performance.timeOrigin")
    # The browser notes, by its own clock, when the row stops saying healthy.
    tab.page.evaluate("""() => {
      const row = () => document.querySelector("tr[data-server='echo']");
      new MutationObserver(() => {
        if (!window.__left && row() && row().dataset.status !== "healthy") window.__left = Date.now();
      }).observe(document.querySelector("tbody"), { subtree: true, attributes: true, childList: true });
    }""")
    pid = hub.server("echo")["pid"]
    killed_at = time.time() * 1000
    os.kill(pid, signal.SIGKILL)
    tab.page.wait_for_function("() => window.__left", timeout=5000)
    left_after_ms = tab.page.evaluate("window.__left") - killed_at
    assert left_after_ms < 1000, f"the row left healthy {left_after_ms:.0f} ms after the kill"
    tab.page.wait_for_selector("[data-toast=server_down]:has-text('echo')")
    tab.wait_row_status("echo", "healthy", timeout_ms=20_000)
    assert tab.page.evaluate("window.__loaded") is not None, "the page was not reloaded"
    assert tab.row("echo").count() == 1


def test_the_page_rides_out_a_hub_restart_and_resumes_from_its_last_event(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], restart_hub: Callable[[HubProcess], HubProcess]
) -> None:
    hub = start_hub(fleet("echo", "slow"))
    tab = dashboard(hub).open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.wait_row_status("slow", "healthy")
    tab.page.evaluate("window.__loaded = true")
    tab.allow(r"WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED")
    kill(hub)
    tab.page.wait_for_selector("[data-connection=reconnecting]", timeout=5000)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", tab.page.text_content("[data-as-of]") or "")
    again = restart_hub(hub)
    back_at = time.monotonic()

    def matches_the_hub() -> bool:
        servers = again.get("/api/v1/servers").json()["items"]
        expected = {server["name"]: server["status"] for server in servers}
        return rows(tab) == expected and tab.page.query_selector("[data-connection-state=open]") is not None

    wait_until(matches_the_hub, timeout=5, interval=0.1)
    assert time.monotonic() - back_at < 5
    assert tab.page.evaluate("window.__loaded") is True, "the page was not reloaded"
    assert tab.page.locator("tr[data-server]").count() == 2, "no duplicate rows"
    assert tab.page.query_selector("[data-connection]") is None, "the banner went away"
    assert any("last_event_id=" in url for url in tab.sockets[1:]), tab.sockets
    wait_until(lambda: rows(tab) == {"echo": "healthy", "slow": "healthy"})


def test_at_rest_a_tab_holds_one_websocket_and_sends_no_requests(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.page.wait_for_timeout(1000)  # the first load's requests are done
    requests: list[Any] = []
    tab.page.on("request", lambda request: requests.append(request.url))
    tab.page.wait_for_timeout(10_000)
    assert requests == []
    assert len(tab.sockets) == 1, tab.sockets


def test_the_event_window_shows_messages_reconnects_and_pauses(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("servers")
    tab.wait_row_status("echo", "healthy")
    tab.page.click("[data-open=events]")
    panel = tab.page.locator("[data-panel=events]")
    panel.locator("[data-messages] li").first.wait_for()
    assert "snapshot" in panel.inner_text()
    panel.locator("[data-action=reconnect]").click()
    tab.wait_connected()
    assert len(tab.sockets) == 2 and "last_event_id=" in tab.sockets[1]
    panel.get_by_role("button", name="Pause").click()
    count = panel.locator("[data-messages] li").count()
    assert hub.post("/api/v1/servers/echo/reload").status_code == 200
    tab.page.wait_for_timeout(500)
    assert panel.locator("[data-messages] li").count() == count
    panel.get_by_role("button", name="Resume").click()
    tab.page.keyboard.press("Escape")
    tab.page.wait_for_selector("[data-panel=events]", state="detached")


def test_a_server_page_follows_its_log_as_new_lines_come(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("servers/echo")
    log = tab.page.locator("[data-log=echo]")
    log.locator("text=started pid").first.wait_for()
    pid = hub.server("echo")["pid"]
    assert hub.post("/api/v1/servers/echo/restart").status_code == 202
    log.locator(f"text=pid {pid} exited").wait_for(timeout=10_000)
    new_pid = wait_until(lambda: (p := hub.server("echo")["pid"]) != pid and p)
    log.locator(f"text=started pid {new_pid}").wait_for(timeout=10_000)


def test_a_server_page_opened_later_shows_the_health_checks_the_hub_kept(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub({**fleet("echo"), "settings": {"ping_interval_s": 0.2}})
    kept = wait_until(lambda: len(checks := hub.server("echo")["recent_checks"]) >= 4 and checks)
    tab = dashboard(hub).open("servers/echo")
    rows = tab.page.locator("[data-table=health] tbody tr")
    rows.nth(3).wait_for(timeout=5_000)
    assert rows.count() >= len(kept), "the page starts from the hub's history, not from when it opened"
    assert all(check["ok"] for check in kept)
