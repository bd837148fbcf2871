"""Dashboard benchmark: how fast an event reaches the page's DOM, what the first load costs, and whether
the tab's memory stays bounded under a long stream of events.

A hub runs in a child process of this script (``--load-hub``: the same ``corral.app.Hub`` as
``corral serve``, SQLite store in a fresh temporary data dir, 127.0.0.1, OS-chosen port) with 200
registered servers (disabled: rows without 200 processes on a 2-core machine) and one extra task that
publishes ``server.status`` events for them at the rate it is told on its stdin. Each event changes one
row's detail text to ``bench <seq> @<wall-clock send time>``. Debian's Chromium (headless, through
Playwright) opens the dashboard with the sign-in link on the servers page.

1. **Event → DOM latency at 10 and 200 events/s.** A ``MutationObserver`` in the page reads each new
   detail text and takes ``Date.now()`` minus the send time written in it: publish → store → WebSocket
   (batched) → reducer → Preact render → DOM. p50, p99 and the share of events seen.
2. **First load**: a fresh browser context follows the sign-in link; time from navigation start to
   200 rows in the table, and the bytes transferred (gzipped, as the hub sends them) by the page's own
   requests.
3. **Memory after an hour-equivalent of events**: a fleet of 200 servers checked every 10 s makes about
   72,000 events an hour. They are published at 500/s; the tab's JS heap (after a forced GC, through the
   DevTools protocol) is read before, halfway and at the end.

Every process it starts is stopped when it ends or fails. Prints Markdown and writes it under
``## Dashboard`` in ``docs/benchmarks.md`` (``--no-docs`` to only print).

    .venv/bin/python bench/dashboard.py [--quick] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sections import write_section  # noqa: E402

HEADING = "## Dashboard"
SERVERS = 200
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROWS_READY = f"() => document.querySelectorAll('tr[data-server]').length === {SERVERS}"
OBSERVE = """() => {
  window.__latencies = [];
  const seen = /bench (\\d+) @([\\d.]+)/;
  new MutationObserver((mutations) => {
    const now = Date.now();
    for (const mutation of mutations) {
      const node = mutation.type === "characterData" ? mutation.target : mutation.target;
      const found = seen.exec(node.textContent || "");
      if (found && node.textContent.length < 80) window.__latencies.push(now - Number(found[2]) * 1000);
    }
  }).observe(document.querySelector("tbody"), { subtree: true, childList: true, characterData: true });
}"""


def load_hub(data_dir: Path) -> None:
    """``--load-hub``: a hub with 200 disabled servers that publishes ``RATE SECONDS`` of status events per
    stdin line; prints its URL and admin token first."""
    from corral.app import Hub
    from corral.config.file import ConfigFile
    from corral.config.settings import EventStreamSettings, Settings
    from corral.registry.models import ServerSpec

    echo = str(ROOT / "tests" / "servers" / "echo.py")
    specs = tuple(
        ServerSpec.from_client_entry(
            f"s{index:03d}", {"command": sys.executable, "args": [echo], "disabled": True}
        )
        for index in range(SERVERS)
    )
    events = EventStreamSettings(ping_interval_s=20.0, idle_timeout_s=120.0, metrics_interval_s=3600.0)
    hub = Hub(
        Settings(data_dir=data_dir, host="127.0.0.1", port=0, events=events),
        ConfigFile(path=None, servers=specs),
    )

    async def publish(rate: int, seconds: float) -> int:
        total, sent = int(rate * seconds), 0
        started = time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                detail = f"bench {sent} @{time.time():.3f}"
                hub.bus.publish("servers", "server.status", f"s{sent % SERVERS:03d}", {"detail": detail})
                sent += 1
            await anyio.sleep(0.002)
        return sent

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            listening = await tg.start(hub.run)
            print(listening.url, hub.admin_token, flush=True)
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):
                rate, seconds = line.split()
                print(await publish(int(rate), float(seconds)), flush=True)
            tg.cancel_scope.cancel()

    anyio.run(main)


class LoadHub:
    def __init__(self, workdir: Path) -> None:
        command = [sys.executable, __file__, "--load-hub", str(workdir / "data")]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.process.stdout is not None
        self.url, self.token = self.process.stdout.readline().split()

    def publish(self, rate: int, seconds: float) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{rate} {seconds}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def heap_mb(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    used: float = cdp.send("Runtime.getHeapUsage")["usedSize"]
    return used / 1e6


def measure(quick: bool) -> str:
    from playwright.sync_api import sync_playwright

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="corral-bench-dashboard-") as tmp:
        hub = LoadHub(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                link = f"{hub.url}/#token={hub.token}"

                # First load, in a context of its own (nothing cached).
                loads: list[tuple[float, int]] = []
                for _ in range(1 if quick else 3):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    sizes: list[Any] = []
                    page.on("requestfinished", lambda request, sizes=sizes: sizes.append(request.sizes()))
                    page.goto(link)
                    page.evaluate("location.hash = '#/servers'")
                    page.wait_for_function(ROWS_READY)
                    ready_ms = page.evaluate("performance.now()")
                    page.wait_for_timeout(500)
                    transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
                    loads.append((ready_ms, transferred))
                    context.close()

                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(link)
                page.evaluate("location.hash = '#/servers'")
                page.wait_for_function(ROWS_READY)
                page.evaluate(OBSERVE)
                latency_rows = []
                for rate, seconds in ((10, 10.0 if not quick else 3.0), (200, 5.0 if not quick else 2.0)):
                    page.evaluate("window.__latencies = []")
                    sent = hub.publish(rate, seconds)
                    page.wait_for_timeout(1500)
                    got: list[float] = page.evaluate("window.__latencies")
                    latency_rows.append(
                        f"| {rate} | {sent} | {len(got) / sent:.0%} | {statistics.median(got):.1f} ms "
                        f"| {percentile(got, 0.99):.1f} ms |"
                    )

                cdp = context.new_cdp_session(page)
                hour = 7_200 if quick else 72_000
                heaps = [heap_mb(cdp)]
                hub.publish(500, hour / 2 / 500)
                page.wait_for_timeout(1000)
                heaps.append(heap_mb(cdp))
                hub.publish(500, hour / 2 / 500)
                page.wait_for_timeout(1000)
                heaps.append(heap_mb(cdp))
                rows_now = page.evaluate("document.querySelectorAll('tr[data-server]').length")
                browser.close()
        finally:
            hub.stop()

    ready = statistics.median(ms for ms, _ in loads)
    weight = statistics.median(size for _, size in loads)
    lines += [
        "Event → DOM (a `server.status` event changing one of 200 rows; publish to the row's new text, "
        "measured in the page):\n",
        "| events/s | events | seen in the DOM | p50 | p99 |",
        "|---|---|---|---|---|",
        *latency_rows,
        "",
        f"First load (sign-in link → 200 rows in the table, fresh context, median of {len(loads)}): "
        f"**{ready:.0f} ms**, **{weight / 1024:.1f} KiB** transferred (gzipped JS, CSS, HTML and the REST "
        "answers; dagre, loaded with the first DAG, not included).",
        "",
        f"Tab memory (JS heap after a forced GC) over {hour:,} events at 500/s (an hour of health checks of "
        f"200 servers every 10 s): {heaps[0]:.1f} MB before, {heaps[1]:.1f} MB halfway, "
        f"{heaps[2]:.1f} MB at the end; {rows_now} rows in the table.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--load-hub", nargs=1, metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_hub:
        load_hub(Path(args.load_hub[0]))
        return
    body = measure(args.quick)
    command = "python " + shlex.join(["bench/dashboard.py", *sys.argv[1:]])
    text = (
        f"{HEADING}\n\nMeasured {dt.date.today().isoformat()} on {os.cpu_count()} cores "
        f"({platform.machine()}, {platform.system()}), Python {platform.python_version()}, Chromium "
        f"(Debian) headless through Playwright, hub and browser on the same machine. Command:\n\n"
        f"    {re.sub(r'^python ', '.venv/bin/python ', command)}\n\n"
        f"Load average at the end: {os.getloadavg()[0]:.1f} (the machine may be shared; a busy one raises "
        "every figure). See the docstring of `bench/dashboard.py` for what each figure includes.\n\n"
        + body
        + "\n"
    )
    print(text)
    if not args.no_docs:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
