"""A real hub, a real browser: `corral serve` processes with the project's test servers, driven by
Debian's Chromium through Playwright (no browser download: ``executable_path``).

Every page a test opens fails the test if it logged a console error or warning or threw.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubProcess, server_entry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

if shutil.which(str(CHROMIUM)) is None:
    BROWSER_MISSING = "Debian's chromium is not installed (scripts/test installs it when run as root)"
else:
    BROWSER_MISSING = ""

if not BROWSER_MISSING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
    from playwright.sync_api import Error as PlaywrightError


def fleet(*names: str, **extra: dict[str, Any]) -> dict[str, Any]:
    """A hub config running the project's test servers ``names`` (plus ``extra`` entries) over stdio."""
    servers: dict[str, Any] = {name: server_entry(name) for name in names}
    servers.update(extra)
    return {"mcpServers": servers}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: Playwright's sync API holds an event loop while it runs, which the
    async tests of other modules could not start theirs beside."""
    if BROWSER_MISSING:
        pytest.skip(BROWSER_MISSING)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Dashboard:
    """One browser tab on a hub's dashboard."""

    page: Page
    hub: HubProcess
    problems: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    """Console messages a test expects (the browser's note of a refused connection while the hub is down)."""

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def open(self, view: str = "overview", token: str | None = None) -> Dashboard:
        """Open the sign-in link (the token in the fragment) on ``view``; wait for the event stream."""
        token = token or self.hub.headers()["Authorization"].removeprefix("Bearer ")
        self.page.goto("about:blank")  # a link followed from elsewhere: a load, not a change of fragment
        self.page.goto(f"{self.hub.url}/#token={token}")
        self.wait_connected()
        self.go(view)
        return self

    def go(self, view: str) -> None:
        self.page.evaluate("view => { location.hash = '#/' + view }", view)
        self.page.wait_for_function("view => location.hash === '#/' + view", arg=view)

    def wait_connected(self, timeout_ms: float = 10_000) -> None:
        self.page.wait_for_selector("[data-connection-state=open]", timeout=timeout_ms)

    def row(self, name: str) -> Any:
        return self.page.locator(f"tr[data-server='{name}']")

    def wait_row_status(self, name: str, status: str, timeout_ms: float = 15_000) -> None:
        self.page.wait_for_selector(f"tr[data-server='{name}'][data-status='{status}']", timeout=timeout_ms)


@pytest.fixture
def dashboard(browser: Browser) -> Iterator[Callable[..., Dashboard]]:
    """``dashboard(hub)``: a fresh browser context (its own storage) with one tab on ``hub``."""
    opened: list[tuple[BrowserContext, Dashboard]] = []

    def open_tab(hub: HubProcess, **context_options: Any) -> Dashboard:
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**context_options)
        page = context.new_page()
        tab = Dashboard(page, hub)

        def console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                tab.problems.append(f"console {message.type}: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
        page.on("websocket", lambda ws: tab.sockets.append(ws.url))
        opened.append((context, tab))
        return tab

    yield open_tab
    problems = [
        problem
        for _, tab in opened
        for problem in tab.problems
        if not any(allowed.search(problem) for allowed in tab.allowed)
    ]
    for context, _ in opened:
        try:
            context.close()
        except PlaywrightError:
            pass
    assert not problems, "\n".join(problems)


@pytest.fixture
def restart_hub() -> Iterator[Callable[[HubProcess], HubProcess]]:
    """``restart_hub(hub)``: `corral serve` again with the command, port and data dir ``hub`` ran with."""
    started: list[HubProcess] = []

    def restart(hub: HubProcess) -> HubProcess:
        command = list(hub.process.args)  # type: ignore[arg-type]
        with hub.log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=hub.log_path.parent)
        again = HubProcess(process, hub.url, hub.data_dir, hub.log_path, hub.token)
        started.append(again)
        again.wait_ready()
        return again

    yield restart
    for hub in started:
        hub.stop()


def kill(hub: HubProcess) -> None:
    hub.stop(signal.SIGKILL, timeout=10)
