"""What each role sees: a viewer the actions disabled with the reason, an operator acting, an admin audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dashboard.conftest import Dashboard, fleet
from tests.support import HubProcess

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]
PASSWORD = "a long enough password"


def sign_in(tab: Dashboard, user: str) -> None:
    tab.page.goto(f"{tab.hub.url}/#/servers")
    tab.page.fill("input[name=username]", user)
    tab.page.fill("input[name=password]", PASSWORD)
    tab.page.click("[data-form=signin] button[type=submit]")
    tab.wait_connected()


def add_user(hub: HubProcess, name: str, role: str) -> None:
    response = hub.post("/api/v1/users", json={"name": name, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text


def test_a_viewer_sees_every_action_disabled_with_the_reason(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    add_user(hub, "vera", "viewer")
    tab = dashboard(hub)
    sign_in(tab, "vera")
    tab.wait_row_status("echo", "healthy")
    buttons = tab.row("echo").locator("button[data-action]")
    assert buttons.count() == 4
    for index in range(buttons.count()):
        button = buttons.nth(index)
        assert button.is_disabled()
        assert button.get_attribute("data-reason") == "needs the operator role; you are viewer"
        described_by = button.get_attribute("aria-describedby")
        assert tab.page.text_content(f"#{described_by}") == "needs the operator role; you are viewer"
    tab.go("audit")
    tab.page.wait_for_selector("text=Not allowed for your role")
    assert tab.page.locator("[data-table=audit]").count() == 0


def test_an_operator_restarts_a_server_and_the_row_follows_from_events(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    add_user(hub, "otto", "operator")
    tab = dashboard(hub)
    sign_in(tab, "otto")
    tab.wait_row_status("echo", "healthy")
    pid = hub.server("echo")["pid"]
    restart = tab.row("echo").locator("button[data-action=restart]")
    assert restart.is_enabled()
    assert tab.row("echo").locator("button[data-action=enable]").get_attribute("data-reason") == (
        "the server is already enabled"
    )
    restart.click()
    tab.page.wait_for_function(
        "() => document.querySelector(\"tr[data-server='echo'] td.num:nth-of-type(5)\")?.textContent === '1'"
    )
    tab.wait_row_status("echo", "healthy")
    assert hub.server("echo")["pid"] != pid


def test_an_admin_sees_the_audit_feed_grow_live(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub(fleet("echo"))
    tab = dashboard(hub).open("audit")
    tab.page.wait_for_selector("[data-table=audit]")
    assert hub.post("/api/v1/servers/echo/reload").status_code == 200
    tab.page.wait_for_selector("tr[data-audit='servers.reload']", timeout=5000)
    tab.page.fill("[data-filter=action]", "servers.reload")
    tab.page.press("[data-filter=action]", "Enter")
    tab.page.wait_for_function("() => location.hash.includes('action=servers.reload')")
    tab.page.wait_for_function("() => document.querySelectorAll('tr[data-audit]').length === 1")
