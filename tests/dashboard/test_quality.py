"""Quality on every page: no serious accessibility violation, no crash on odd data, dark, a phone's width."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.dashboard.conftest import AXE, Dashboard, fleet
from tests.support import HubProcess

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]
PAGES = [
    "overview", "servers", "servers/echo", "tools", "tools/echo__echo", "workflows", "workflows/greet",
    "executions", "patterns", "audit", "agents", "tasks", "nodes",
]  # fmt: skip
GREET = {
    "workflow_id": "greet",
    "name": "Greet",
    "params": {"who": {"type": "string", "default": "world", "required": True}},
    "steps": [{"id": "hello", "tool": "echo__echo", "args": {"text": "hello {{ params.who }}"}}],
}
NEVER_SHOWN = ("undefined", "NaN", "[object Object]")


def violations(tab: Dashboard) -> list[str]:
    """Serious and critical axe violations on the page as it is now."""
    tab.page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = tab.page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_a_serious_accessibility_violation(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], scheme: str
) -> None:
    hub = start_hub(fleet("echo"))
    assert hub.post("/api/v1/workflows", json=GREET).status_code == 201
    # axe is injected as a script tag: this context alone lets it past the page's CSP.
    tab = dashboard(hub, bypass_csp=True, color_scheme=scheme)
    tab.page.goto(f"{hub.url}/#/servers")
    tab.page.wait_for_selector("[data-form=signin]")
    found = {"sign-in": violations(tab)}
    tab.open("servers")
    tab.wait_row_status("echo", "healthy")
    for view in PAGES:
        tab.go(view)
        tab.page.wait_for_load_state()
        tab.page.wait_for_timeout(300)
        found[view] = violations(tab)
        text = tab.page.inner_text("body")
        assert not [word for word in NEVER_SHOWN if word in text], view
    tab.go("nodes")
    tab.page.wait_for_selector("tr[data-node] >> text=this hub")  # the hub's own node, with its inventory
    tab.page.click("[data-open=events]")
    tab.page.wait_for_selector("[data-panel=events]")
    found["event window"] = violations(tab)
    tab.page.click("[data-menu=alerts] summary")
    tab.page.wait_for_selector("[data-alert=server_down]")
    found["alert settings"] = violations(tab)
    assert {page: v for page, v in found.items() if v} == {}


def test_odd_and_missing_fields_show_a_dash_and_never_break_the_page(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    """The hub's messages are altered on their way to the page: unknown status, missing or wrong fields."""
    hub = start_hub(fleet("echo", "slow"))
    tab = dashboard(hub)

    def spoil(server: dict[str, Any]) -> dict[str, Any]:
        for field in ("latency_ms", "uptime_s", "restarts", "pid", "detail", "circuit_state"):
            server.pop(field, None)
        server.update(status="sideways", last_check="garbage", tools=None, tags="not-a-list")
        server["total_downtime_s"] = "x"
        return server

    def alter(text: str) -> str:
        message = json.loads(text)
        if message.get("type") == "snapshot":
            message["servers"] = [spoil(s) if s["name"] == "echo" else s for s in message.get("servers", [])]
            message["servers"].append({"name": "ghost"})
            message["metrics"] = {"calls_per_s": "fast", "p95_ms": None}
            message["executions"] = [{"status": 7}, "nonsense"]
        events = message.get("events", [message]) if message.get("type") in ("events", None) else []
        for event in events:
            if event.get("subject") == "echo" and isinstance(event.get("data"), dict):
                spoil(event["data"])
        return json.dumps(message)

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: ws.send(alter(message)))
        ws.on_message(server.send)

    tab.page.route_web_socket("**/ws/events**", route)
    tab.allow(r"status of 404")  # the made-up server 'ghost' has no log on the hub to read
    tab.open("servers")
    tab.page.wait_for_selector("tr[data-server=ghost]")
    tab.page.wait_for_selector("tr[data-server=echo][data-status=sideways]")
    assert hub.post("/api/v1/servers/slow/disable").status_code == 200
    tab.wait_row_status("slow", "disabled")
    for view in ["servers", "servers/echo", "servers/ghost", "overview", "tools", "executions"]:
        tab.go(view)
        tab.page.wait_for_timeout(300)
        text = tab.page.inner_text("body")
        assert not [word for word in NEVER_SHOWN if word in text], (view, text[:2000])
    tab.go("servers")
    assert "—" in tab.row("ghost").inner_text()
    assert "sideways" in tab.row("echo").inner_text()


def test_the_page_fits_a_phone_and_follows_a_dark_system(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub, viewport={"width": 390, "height": 800}, color_scheme="dark")
    tab.open("servers")
    tab.wait_row_status("echo", "healthy")
    for view in ["overview", "servers", "tools", "executions"]:
        tab.go(view)
        tab.page.wait_for_timeout(200)
        assert tab.page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1"), view
    background = tab.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 19, 23)"
