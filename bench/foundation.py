"""Foundation benchmarks: what supervising stdio MCP servers through Corral costs, end to end.

Everything runs a real ``corral serve`` subprocess on 127.0.0.1 (OS-chosen port, fresh data dir) with the
project's ``tests/servers/echo.py`` as the upstream, and talks to it the way an operator would: over
REST. Three things are measured, because they are what a user of a supervisor notices first:

1. **Start-up** -- wall time from launching ``corral serve`` to the first 200 from ``/readyz`` (every
   server had its first start attempt; with echo that means handshake, ``tools/list`` and the first
   ping done), with 0, 1 and 20 servers. As a baseline, the same run also times one echo server started
   and initialised directly with the SDK client, so the hub's own overhead is visible.
2. **Crash detection and recovery** -- SIGKILL the echo server's pid (read from the API) ``--kills``
   times and time (a) until the API no longer says ``healthy``, polled every 5 ms, so an upper bound of
   the hub's own detection; (b) the same moment as seen from the hub's INFO log line
   ``server echo: healthy → disconnected``, timestamped on arrival by a reader thread; (c) until the API
   says ``healthy`` again with a new pid (includes the configured 0.2 s restart backoff, ±20 % jitter, and
   the echo server's interpreter start-up). The REST round trip itself is timed too, since it bounds (a).
3. **Memory** -- RSS of the ``corral serve`` process alone and with its children (20 echo servers),
   after 5 s of steady state; PSS too where the kernel offers it, since RSS counts the shared pages of
   21 Python interpreters 21 times.

The script bounds every wait, and stops every process it started (the hub by SIGTERM, then its process
group and every descendant it saw by SIGKILL), on success, error, Ctrl-C or SIGTERM. It records how much
CPU other processes used meanwhile (wall-clock figures from a busy machine are inflated), prints a
Markdown table and writes it, with the date, core count, Python version and the exact command, under
``## Foundation (supervision)`` in ``docs/benchmarks.md``.

    python bench/foundation.py [--runs 3] [--kills 50] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import yaml
from sections import write_section  # bench/ is the script's directory

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "tests" / "servers" / "echo.py"
# The command that launches the hub; override to benchmark another build (e.g. a patched entry point).
CORRAL_OVERRIDE = os.environ.get("CORRAL_BENCH_CORRAL", "")
CORRAL = shlex.split(CORRAL_OVERRIDE) or [str(Path(sys.executable).parent / "corral")]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Foundation (supervision)"

START_TIMEOUT_S = 60.0
STEP_TIMEOUT_S = 10.0
KILL_POLL_S = 0.005
READY_POLL_S = 0.01
STEADY_S = 5.0
KILL_SETTINGS = {
    "restart_initial_s": 0.2,
    "restart_max_s": 0.2,
    "crash_limit": 1000,
    "failure_threshold": 1000,
}
SERVING = re.compile(r"serving \d+ server\(s\) at (http://\S+)")
DOWN_LINE = "server echo: healthy → disconnected"
UP_LINE = "server echo: starting → healthy"


class BenchError(RuntimeError):
    """A step did not finish in time or the hub misbehaved; the run is not valid."""


# -- the hub under test --------------------------------------------------------------------------


@dataclass
class Hub:
    """A ``corral serve`` subprocess in its own process group, its stderr read line by line."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    started_at: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    url: str | None = None
    token: str | None = None
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listening: threading.Event = field(default_factory=threading.Event)
    _http: httpx.Client | None = None

    def read_stderr(self) -> None:
        """Reader thread: timestamp each line the moment it arrives."""
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            now = time.perf_counter()
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.lines.append((now, line))
            if self.url is None and (match := SERVING.search(line)):
                self.url = match.group(1)
                self._listening.set()
        self._listening.set()

    def wait_listening(self, timeout: float) -> str:
        if not self._listening.wait(timeout) or self.url is None:
            raise BenchError(f"the hub did not start listening within {timeout:g}s:\n{self.log_tail()}")
        self._http = httpx.Client(base_url=self.url, timeout=STEP_TIMEOUT_S)
        return self.url

    @property
    def http(self) -> httpx.Client:
        assert self._http is not None, "wait_listening() first"
        return self._http

    def headers(self) -> dict[str, str]:
        if self.token is None:
            self.token = (self.data_dir / "admin.token").read_text().strip()
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> Any:
        response = self.http.get(path, headers=self.headers())
        response.raise_for_status()
        return response.json()

    def server(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get(f"/api/v1/servers/{name}")
        return body

    def first_line_after(self, since: float, text: str) -> float | None:
        with self._lock:
            return next((at for at, line in self.lines if at >= since and text in line), None)

    def log_tail(self, count: int = 30) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines[-count:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def remember_children(self) -> list[psutil.Process]:
        """Note every current descendant, so cleanup can reach them even if the hub dies first."""
        try:
            children: list[psutil.Process] = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            self.seen.setdefault(child.pid, child)
        return children

    def stop(self) -> None:
        """SIGTERM and a bounded wait, then SIGKILL the group and every descendant ever seen."""
        self.remember_children()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            with _suppress_gone():
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        leftovers = [proc for proc in self.seen.values() if proc.is_running()]
        for proc in leftovers:
            with _suppress_gone():
                proc.kill()
        psutil.wait_procs(leftovers, timeout=5)
        if self._http is not None:
            self._http.close()


@contextmanager
def _suppress_gone() -> Iterator[None]:
    try:
        yield
    except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
        pass


@contextmanager
def running_hub(servers: int, settings: dict[str, Any] | None = None) -> Iterator[Hub]:
    """Start ``corral serve`` with ``servers`` echo servers; always stop it and remove its data dir."""
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-"))
    config: dict[str, Any] = {
        "mcpServers": {
            f"echo{i}" if servers > 1 else "echo": {"command": sys.executable, "args": [str(ECHO)]}
            for i in range(servers)
        }
    }
    if settings:
        config["settings"] = settings
    config_path = workdir / "corral.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = [
        *CORRAL,
        "serve",
        "--config",
        str(config_path),
        "--data-dir",
        str(workdir / "data"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-level",
        "INFO",
    ]
    hub: Hub | None = None
    try:
        started_at = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        hub = Hub(process, workdir / "data", started_at)
        threading.Thread(target=hub.read_stderr, name="hub-stderr", daemon=True).start()
        yield hub
    finally:
        if hub is not None:
            hub.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_ready(hub: Hub) -> float:
    """Seconds from launch to the first 200 from /readyz."""
    hub.wait_listening(START_TIMEOUT_S)
    deadline = hub.started_at + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if not hub.alive():
            raise BenchError(f"the hub exited with {hub.process.returncode}:\n{hub.log_tail()}")
        try:
            if hub.http.get("/readyz").status_code == 200:
                return time.perf_counter() - hub.started_at
        except httpx.TransportError:
            pass
        time.sleep(READY_POLL_S)
    raise BenchError(f"/readyz not 200 within {START_TIMEOUT_S:g}s:\n{hub.log_tail()}")


def check_all_healthy(hub: Hub, expected: int) -> None:
    items = hub.get("/api/v1/servers")["items"]
    statuses = {item["name"]: item["status"] for item in items}
    if len(statuses) != expected or set(statuses.values()) - {"healthy"}:
        raise BenchError(f"expected {expected} healthy servers, got {statuses}")


def poll(predicate: Callable[[], bool], timeout: float, interval: float, what: str) -> float:
    """Poll until ``predicate`` holds; returns the perf_counter time it was first seen true."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise BenchError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


# -- the measurements ------------------------------------------------------------------------------


def raw_echo_start() -> float:
    """Seconds for one echo server, spawned by the SDK client, to answer ``initialize``."""
    from mcp import Client, StdioServerParameters

    async def once() -> float:
        params = StdioServerParameters(command=sys.executable, args=[str(ECHO)])
        with anyio.fail_after(START_TIMEOUT_S):
            started = time.perf_counter()
            async with Client(params, mode="legacy"):
                return time.perf_counter() - started

    return anyio.run(once)


@dataclass
class MemoryFigures:
    hub_rss: int
    total_rss: int
    total_pss: int | None
    children: int


def measure_memory(hub: Hub) -> MemoryFigures:
    time.sleep(STEADY_S)
    parent = psutil.Process(hub.process.pid)
    processes = [parent, *hub.remember_children()]
    rss = [proc.memory_info().rss for proc in processes]
    try:
        pss: int | None = sum(proc.memory_full_info().pss for proc in processes)
    except (psutil.AccessDenied, AttributeError):
        pss = None
    return MemoryFigures(rss[0], sum(rss), pss, len(processes) - 1)


def startup(runs: int) -> tuple[dict[str, list[float]], MemoryFigures]:
    results: dict[str, list[float]] = {"raw": [], "hub0": [], "hub1": [], "hub20": []}
    memory: MemoryFigures | None = None
    # Untimed warm-up: the first launch after an install or a reboot pays for bytecode and the disk cache.
    raw_echo_start()
    with running_hub(1) as hub:
        wait_ready(hub)
    for run in range(runs):
        results["raw"].append(raw_echo_start())
        for servers in (0, 1, 20):
            with running_hub(servers) as hub:
                results[f"hub{servers}"].append(wait_ready(hub))
                hub.remember_children()
                check_all_healthy(hub, servers)
                if servers == 20 and run == runs - 1:
                    memory = measure_memory(hub)
            print(f"  start-up run {run + 1}/{runs}: {servers} server(s) ready", file=sys.stderr)
    assert memory is not None
    return results, memory


@dataclass
class KillFigures:
    api_detect: list[float] = field(default_factory=list)
    log_detect: list[float] = field(default_factory=list)
    api_recover: list[float] = field(default_factory=list)
    log_recover: list[float] = field(default_factory=list)
    rest_latency: list[float] = field(default_factory=list)
    restarts: int = 0
    downtime_s: float = 0.0


def kills(count: int) -> KillFigures:
    figures = KillFigures()
    with running_hub(1, KILL_SETTINGS) as hub:
        wait_ready(hub)
        hub.server("echo")  # the first request on a connection is not representative
        for _ in range(20):
            before = time.perf_counter()
            hub.server("echo")
            figures.rest_latency.append(time.perf_counter() - before)
        for kill in range(count):
            state = hub.server("echo")
            if state["status"] != "healthy" or not state["pid"]:
                raise BenchError(f"kill {kill}: echo is not healthy before the kill: {state}")
            old_pid = state["pid"]
            hub.remember_children()
            started = time.perf_counter()
            os.kill(old_pid, signal.SIGKILL)
            down = poll(
                lambda: hub.server("echo")["status"] != "healthy", STEP_TIMEOUT_S, KILL_POLL_S, "detection"
            )

            def recovered(old: int = old_pid) -> bool:
                body = hub.server("echo")
                return body["status"] == "healthy" and body["pid"] not in (None, old)

            up = poll(recovered, STEP_TIMEOUT_S, KILL_POLL_S, "recovery")
            figures.api_detect.append(down - started)
            figures.api_recover.append(up - started)
            log_down = hub.first_line_after(started, DOWN_LINE)
            log_up = hub.first_line_after(started, UP_LINE)
            if log_down is not None:
                figures.log_detect.append(log_down - started)
            if log_up is not None:
                figures.log_recover.append(log_up - started)
            if (kill + 1) % 10 == 0:
                print(f"  kills: {kill + 1}/{count}", file=sys.stderr)
        final = hub.server("echo")
        figures.restarts = final["restarts"]
        figures.downtime_s = final["total_downtime_s"]
    return figures


class CpuMeter:
    """How much of the machine's CPU went to processes other than this one and its descendants.

    The figures are wall-clock times, so a busy machine inflates them; this says by how much it was busy.
    Descendants count once reaped (a hub reaps its servers, this script reaps its hubs).
    """

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self._machine = self._machine_busy()
        self._ours = self._our_cpu()

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    @staticmethod
    def _our_cpu() -> float:
        mine = os.times()
        return mine.user + mine.system + mine.children_user + mine.children_system

    def stop(self) -> tuple[float, float]:
        """Elapsed seconds, and the share of all cores that other processes kept busy meanwhile."""
        elapsed = time.perf_counter() - self.began
        others = (self._machine_busy() - self._machine) - (self._our_cpu() - self._ours)
        return elapsed, max(0.0, others / (elapsed * (os.cpu_count() or 1)))


# -- reporting -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with fewer than 100 samples, p99 is the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def secs(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"


def mib(value: int) -> str:
    return f"{value / 2**20:.0f} MiB"


def spread_minmax(values: list[float]) -> str:
    return f"{secs(min(values))} – {secs(max(values))} (min – max)"


def spread_tail(values: list[float]) -> str:
    return f"p99 {secs(percentile(values, 99))}, max {secs(max(values))}"


def table(start: dict[str, list[float]], memory: MemoryFigures, crash: KillFigures, kills_asked: int) -> str:
    med = statistics.median
    rows: list[tuple[str, str, str, str]] = [
        ("Raw echo server alone: spawn → `initialize` answered (SDK client)", *_row(start["raw"])),
        ("`corral serve`, 0 servers: launch → `/readyz` 200", *_row(start["hub0"])),
        ("`corral serve`, 1 echo server: launch → `/readyz` 200", *_row(start["hub1"])),
        ("`corral serve`, 20 echo servers: launch → `/readyz` 200", *_row(start["hub20"])),
        (
            "Hub overhead, 1 server (hub median − raw median)",
            secs(med(start["hub1"]) - med(start["raw"])),
            "",
            "",
        ),
        (
            "REST round trip, `GET /api/v1/servers/echo` on a kept-alive connection",
            secs(med(crash.rest_latency)),
            spread_tail(crash.rest_latency),
            str(len(crash.rest_latency)),
        ),
        (
            "Crash detection, SIGKILL → REST API shows not healthy (polled every 5 ms; upper bound)",
            secs(med(crash.api_detect)),
            spread_tail(crash.api_detect),
            str(len(crash.api_detect)),
        ),
    ]
    if crash.log_detect:
        rows.append(
            (
                "Crash detection, SIGKILL → hub logs `healthy → disconnected`",
                secs(med(crash.log_detect)),
                spread_tail(crash.log_detect),
                str(len(crash.log_detect)),
            )
        )
    rows.append(
        (
            "Recovery, SIGKILL → REST API shows healthy with a new pid (0.2 s backoff)",
            secs(med(crash.api_recover)),
            spread_tail(crash.api_recover),
            str(len(crash.api_recover)),
        )
    )
    if crash.log_recover:
        rows.append(
            (
                "Recovery, SIGKILL → hub logs `starting → healthy`",
                secs(med(crash.log_recover)),
                spread_tail(crash.log_recover),
                str(len(crash.log_recover)),
            )
        )
    rows += [
        (
            "Hub's own count after the kills: `restarts` / `total_downtime_s` per kill",
            f"{crash.restarts} / {secs(crash.downtime_s / max(1, kills_asked))}",
            f"{kills_asked} kills",
            "1",
        ),
        ("Memory, 20 echo servers, 5 s steady: `corral serve` RSS", mib(memory.hub_rss), "", "1"),
        (
            f"Memory, same: hub + {memory.children} children, RSS sum",
            mib(memory.total_rss),
            "",
            "1",
        ),
    ]
    if memory.total_pss is not None:
        rows.append(
            (
                f"Memory, same: hub + {memory.children} children, PSS sum (shared pages split)",
                mib(memory.total_pss),
                "",
                "1",
            )
        )
    lines = ["| Measurement | Median | Spread | n |", "|---|---:|---|---:|"]
    lines += [f"| {name} | {median} | {spread} | {n} |" for name, median, spread, n in rows]
    return "\n".join(lines)


def _row(values: list[float]) -> tuple[str, str, str]:
    return secs(statistics.median(values)), spread_minmax(values), str(len(values))


def section(body: str, command: str, others: float) -> str:
    today = dt.date.today().isoformat()
    return (
        f"{HEADING}\n\n"
        f"Measured {today} on {os.cpu_count()} cores ({platform.machine()}, {platform.system()}), "
        f"Python {platform.python_version()}; processes other than the benchmark's used {others:.0%} of the "
        "machine meanwhile. Command:\n\n"
        f"    {command}\n\n"
        "Start-up runs use a fresh data dir (SQLite store created and migrated) each time; `/readyz` is "
        "polled every 10 ms from the moment the hub logs its address. Crash figures: a hub with one echo "
        "server and `restart_initial_s = restart_max_s = 0.2` (±20 % jitter), the echo pid SIGKILLed "
        "repeatedly; the log figure is when the `healthy → disconnected` line reached the benchmark's "
        "reader thread. With fewer than 100 samples p99 is the maximum. Recovery includes the backoff "
        "and the echo server's interpreter start, which the raw start-up row shows on its own.\n\n"
        f"{body}\n"
    )


def write_docs(text: str) -> None:
    write_section(HEADING, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="start-up runs per configuration (default 3)")
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs of the echo server (default 50)")
    parser.add_argument("--quick", action="store_true", help="1 run and 10 kills: a smoke test")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    runs, kill_count = (1, 10) if args.quick else (args.runs, args.kills)
    if runs < 1 or kill_count < 1:
        parser.error("--runs and --kills must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so every finally: block runs
    command = shlex.join(["python", "bench/foundation.py", *(sys.argv[1:] if argv is None else argv)])
    if CORRAL_OVERRIDE:
        command = f"CORRAL_BENCH_CORRAL={shlex.quote(CORRAL_OVERRIDE)} {command}"

    meter = CpuMeter()
    print(f"start-up: {runs} run(s) of raw echo and of the hub with 0, 1 and 20 servers", file=sys.stderr)
    start, memory = startup(runs)
    print(f"crash detection and recovery: {kill_count} kills", file=sys.stderr)
    crash = kills(kill_count)
    body = table(start, memory, crash, kill_count)
    print(body)
    elapsed, others = meter.stop()
    print(f"(took {elapsed:.0f} s; other processes used {others:.0%} of the machine)", file=sys.stderr)
    if others > 0.1:
        print("warning: something else was running; these wall-clock figures are inflated", file=sys.stderr)
    if not args.no_docs:
        write_docs(section(body, command, others))
        print(f"written to {DOCS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
