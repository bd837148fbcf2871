"""Event stream benchmark: how fast a change in the fleet reaches WebSocket clients, and how many events a
hub can stream.

Two measurements, each against a hub in its own process on 127.0.0.1 (OS-chosen port, fresh temporary
data dir, SQLite store) with the clients in this process (``websockets`` asyncio client, no compression
offered, answering the hub's pings):

1. **Status change → client, with 1, 100 and 1,000 connected clients.** A real ``corral serve`` runs one
   stdio echo server (``tests/servers/echo.py``, restart backoff 0.2 s). Every client follows
   ``servers:echo``. The echo server's pid (read from the REST API) is SIGKILLed ``--kills`` times; the
   latency of one client is from just before ``os.kill`` to the moment that client has the
   ``server.status`` event saying ``disconnected``. That includes the hub noticing the exit, storing the
   event (the stream delivers only stored events), fanning it out, and this process reading N sockets
   (one Python event loop: with 1,000 clients the last one read waits for the 999 before it). Reported:
   p50 and p99 over every (client, kill) pair, and the median over kills of the slowest client. Between
   kills the script waits until every client has seen the server ``healthy`` again.
2. **Events per second to 100 clients.** ``corral serve`` has no way to make events on demand, so this
   part runs the same ``Hub`` (``corral.app.Hub``: store, event log, uvicorn, the same WebSocket route)
   in a child process started by this script (``--load-hub``), with one extra task that publishes
   synthetic events (about 120 bytes each on the wire) at the rate it is told on its stdin. 100 clients
   follow ``metrics``, first taking one event per message, then with ``?batch=1``. Offered rates double
   from 100 events/s, ``--seconds`` each, until one is not kept up with; for each the script records
   whether every client got every event, in order, none cut off as a slow consumer, and how long after
   the publisher the last client finished. The sustained rate is the highest offered rate every client
   kept up with (every event, the last one within 1 s of the publisher).

The clients share the machine with the hub (2 cores here): at high rates this process is as busy as the
hub, so figures are for the whole set-up; hub CPU is reported next to them.

The script bounds every wait and stops every process it started (SIGTERM, then SIGKILL to its process
group and any descendant it saw) on success, error, Ctrl-C or SIGTERM. It prints Markdown tables and
writes them, with the date, cores, Python version and the exact command, under ``## Event stream`` in
``docs/benchmarks.md`` (only that section is replaced; the file is re-read right before writing).

    python bench/events.py [--kills 20] [--seconds 4] [--quick] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import psutil
import yaml
from sections import write_section  # bench/ is the script's directory
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "tests" / "servers" / "echo.py"
CORRAL = str(Path(sys.executable).parent / "corral")
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Event stream"

CLIENT_LEVELS = (1, 100, 1000)
THROUGHPUT_CLIENTS = 100
RATES = (100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600)
MODES = (False, True)  # one event per message; ?batch=1
MODE_LABELS = {False: "one event each", True: "`?batch=1`"}
KEEP_UP_S = 1.0  # a rate is sustained when the last client finishes within this of the publisher
START_TIMEOUT_S = 60.0
STEP_TIMEOUT_S = 30.0
CONNECT_BATCH = 50
POLL_S = 0.05
HUB_EVENTS = {"ping_interval_s": 20.0, "idle_timeout_s": 120.0, "metrics_interval_s": 3600.0}
RESTART_SETTINGS = {"restart_initial_s": 0.2, "restart_max_s": 0.2, "crash_limit": 100_000}


class BenchError(RuntimeError):
    """A step did not finish in time or a process misbehaved; the run is not valid."""


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A subprocess in its own process group; its output in a log file (or a pipe, for the load hub)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, count: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-count:])
        except OSError:
            return ""

    def remember_children(self) -> None:
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def cpu_seconds(self) -> float:
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def stop(self) -> None:
        """SIGTERM and a bounded wait, then SIGKILL the group and every descendant ever seen."""
        self.remember_children()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        with _suppress_gone():
            os.killpg(self.process.pid, signal.SIGKILL)
        with _suppress_gone():
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        leftovers = [proc for proc in self.seen.values() if proc.is_running()]
        for proc in leftovers:
            with _suppress_gone():
                proc.kill()
        psutil.wait_procs(leftovers, timeout=5)


@contextmanager
def _suppress_gone() -> Iterator[None]:
    try:
        yield
    except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(name: str, command: list[str], workdir: Path, procs: list[Proc], *, pipes: bool = False) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else out,
            stderr=out if pipes else subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(name, process, log)
    procs.append(proc)
    return proc


def wait_ready(proc: Proc, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.log_tail()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_S)
    raise BenchError(f"{proc.name}: /readyz not 200 within {START_TIMEOUT_S:g}s:\n{proc.log_tail()}")


def stop_all(procs: list[Proc]) -> None:
    for proc in reversed(procs):
        proc.stop()


# -- clients ---------------------------------------------------------------------------------------


def ws_url(http_url: str, topics: str) -> str:
    return http_url.replace("http://", "ws://", 1) + f"/ws/events?topics={topics}"


async def open_clients(url: str, token: str, count: int) -> list[ClientConnection]:
    """``count`` connected clients, their snapshots read; opened ``CONNECT_BATCH`` at a time."""
    clients: list[ClientConnection] = []

    async def one() -> None:
        ws = await connect(
            url, subprotocols=["bearer", token], proxy=None, compression=None, open_timeout=STEP_TIMEOUT_S
        )
        with anyio.fail_after(STEP_TIMEOUT_S):
            first = json.loads(await ws.recv())
        if first.get("type") != "snapshot":
            raise BenchError(f"expected a snapshot first, got {first}")
        clients.append(ws)

    for offset in range(0, count, CONNECT_BATCH):
        async with anyio.create_task_group() as tg:
            for _ in range(min(CONNECT_BATCH, count - offset)):
                tg.start_soon(one)
    return clients


async def close_clients(clients: list[ClientConnection]) -> None:
    with anyio.move_on_after(STEP_TIMEOUT_S):
        async with anyio.create_task_group() as tg:
            for ws in clients:
                tg.start_soon(ws.close)


# -- 1: status change → client ---------------------------------------------------------------------


@dataclass
class Kill:
    """One SIGKILL: when it was sent, when each client saw ``disconnected``, when each saw ``healthy``."""

    clients: int
    sent_at: float = 0.0
    down: dict[int, float] = field(default_factory=dict)
    up: set[int] = field(default_factory=set)
    all_down: anyio.Event = field(default_factory=anyio.Event)
    all_up: anyio.Event = field(default_factory=anyio.Event)


async def follow_status(index: int, ws: ClientConnection, current: Callable[[], Kill | None]) -> None:
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "ping":
                await ws.send('{"type":"pong"}')
                continue
            kill = current()
            if kill is None or message.get("type") != "server.status":
                continue
            status = message["data"]["status"]
            if status == "disconnected" and index not in kill.down:
                kill.down[index] = time.perf_counter()
                if len(kill.down) == kill.clients:
                    kill.all_down.set()
            elif status == "healthy" and index in kill.down:
                kill.up.add(index)
                if len(kill.up) == kill.clients:
                    kill.all_up.set()
    except ConnectionClosed as closed:
        raise BenchError(f"client {index} was closed: {closed}") from closed


def echo_pid(url: str, token: str) -> int:
    body = httpx.get(f"{url}/api/v1/servers/echo", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    body.raise_for_status()
    state = body.json()
    if state["status"] != "healthy" or state["pid"] is None:
        raise BenchError(f"echo is not healthy: {state['status']}")
    pid: int = state["pid"]
    return pid


@dataclass
class LatencyResult:
    clients: int
    samples: list[float]
    slowest: list[float]


async def measure_latency(url: str, token: str, clients: int, kills: int) -> LatencyResult:
    sockets = await open_clients(ws_url(url, "servers:echo"), token, clients)
    current: Kill | None = None
    samples: list[float] = []
    slowest: list[float] = []
    try:
        async with anyio.create_task_group() as tg:
            for index, ws in enumerate(sockets):
                tg.start_soon(follow_status, index, ws, lambda: current)
            for _ in range(kills):
                pid = await anyio.to_thread.run_sync(echo_pid, url, token)
                kill = Kill(clients)
                current = kill
                kill.sent_at = time.perf_counter()
                os.kill(pid, signal.SIGKILL)
                with anyio.fail_after(STEP_TIMEOUT_S):
                    await kill.all_down.wait()
                    await kill.all_up.wait()
                latencies = [at - kill.sent_at for at in kill.down.values()]
                samples.extend(latencies)
                slowest.append(max(latencies))
            tg.cancel_scope.cancel()
    finally:
        await close_clients(sockets)
    return LatencyResult(clients, samples, slowest)


def run_latency(workdir: Path, procs: list[Proc], kills: int, levels: tuple[int, ...]) -> list[LatencyResult]:
    config = {
        "mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO)]}},
        "settings": RESTART_SETTINGS,
        "hub": {"events": HUB_EVENTS},
    }
    (workdir / "corral.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    data_dir = workdir / "data"
    command = [CORRAL, "serve", "--config", str(workdir / "corral.yaml"), "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"]
    hub = start("corral-serve", command, workdir, procs)
    url = f"http://127.0.0.1:{port}"
    wait_ready(hub, url)
    token = (data_dir / "admin.token").read_text().strip()
    results = []
    for clients in levels:
        print(f"latency: {clients} client(s), {kills} kills ...", flush=True)
        results.append(anyio.run(measure_latency, url, token, clients, kills))
    hub.stop()
    return results


# -- 2: events per second to 100 clients -----------------------------------------------------------


@dataclass
class Counter:
    """What one client of the throughput run got: events in order, the time of the last, a close code."""

    expected_next: int = 0
    last: int = 0
    last_at: float = 0.0
    out_of_order: int = 0
    closed: str | None = None


@dataclass
class Goal:
    """The last event of one offered rate, and how many clients have yet to get it (or be closed)."""

    last_id: int
    waiting: int
    reached: anyio.Event = field(default_factory=anyio.Event)

    def arrive(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.reached.set()


async def count_events(ws: ClientConnection, counter: Counter, goal: Callable[[], Goal | None]) -> None:
    try:
        async for raw in ws:
            text = raw if isinstance(raw, str) else raw.decode()
            if text.startswith('{"type":"ping"'):
                await ws.send('{"type":"pong"}')
                continue
            if text.startswith('{"id":'):
                ids = [int(text[6 : text.index(",", 6)])]  # one event: its wire form starts {"id":N,
            elif text.startswith('{"type":"events"'):
                ids = [event["id"] for event in json.loads(text)["events"]]
            else:
                continue
            for event_id in ids:
                if counter.expected_next and event_id != counter.expected_next:
                    counter.out_of_order += 1
                counter.expected_next = event_id + 1
            counter.last, counter.last_at = ids[-1], time.perf_counter()
            current = goal()
            if current is not None and ids[-1] >= current.last_id and ids[0] <= current.last_id:
                current.arrive()
    except ConnectionClosed as closed:
        counter.closed = f"{closed.rcvd.code} {closed.rcvd.reason}" if closed.rcvd else "no close frame"
        current = goal()
        if current is not None and counter.last < current.last_id:
            current.arrive()


@dataclass
class RateResult:
    batch: bool
    offered: int
    published_per_s: float
    events: int
    kept_up: bool
    lag_s: float
    delivered_per_s: float
    cut_off: int
    hub_cpu: float


async def measure_rates(
    hub: Proc, url: str, token: str, rates: tuple[int, ...], seconds: float, batch: bool
) -> list[RateResult]:
    assert hub.process.stdin is not None and hub.process.stdout is not None
    stdin, stdout = hub.process.stdin, hub.process.stdout
    sockets = await open_clients(
        ws_url(url, "metrics") + ("&batch=1" if batch else ""), token, THROUGHPUT_CLIENTS
    )
    counters = [Counter() for _ in sockets]
    goal: Goal | None = None
    results: list[RateResult] = []
    try:
        async with anyio.create_task_group() as tg:
            for ws, counter in zip(sockets, counters, strict=True):
                tg.start_soon(count_events, ws, counter, lambda: goal)
            for rate in rates:
                print(
                    f"throughput{' (batch=1)' if batch else ''}: {rate} events/s for {seconds:g} s "
                    f"to {len(sockets)} clients ...",
                    flush=True,
                )
                cpu_before, started = hub.cpu_seconds(), time.perf_counter()
                stdin.write(f"{rate} {seconds}\n".encode())
                stdin.flush()
                with anyio.fail_after(seconds * 10 + STEP_TIMEOUT_S):
                    line = await anyio.to_thread.run_sync(stdout.readline)
                published_at = time.perf_counter()
                if not line:
                    raise BenchError(f"the load hub stopped:\n{hub.log_tail()}")
                first, last, took = line.decode().split()
                first_id, last_id = int(first), int(last)
                deadline = published_at + KEEP_UP_S
                goal = Goal(last_id, sum(c.last < last_id and c.closed is None for c in counters))
                if goal.waiting == 0:
                    goal.reached.set()
                with anyio.move_on_after(STEP_TIMEOUT_S):
                    await goal.reached.wait()
                finished = max((c.last_at for c in counters if c.last >= last_id), default=published_at)
                cpu = (hub.cpu_seconds() - cpu_before) / max(1e-9, time.perf_counter() - started)
                cut_off = sum(c.closed is not None for c in counters)
                complete = all(c.last >= last_id and c.out_of_order == 0 for c in counters)
                events = last_id - first_id + 1
                results.append(
                    RateResult(
                        batch=batch,
                        offered=rate,
                        published_per_s=events / float(took),
                        events=events,
                        kept_up=complete and cut_off == 0 and finished <= deadline,
                        lag_s=max(0.0, finished - published_at),
                        delivered_per_s=events / max(1e-9, finished - started),
                        cut_off=cut_off,
                        hub_cpu=cpu,
                    )
                )
                if not results[-1].kept_up:
                    break
            tg.cancel_scope.cancel()
    finally:
        await close_clients(sockets)
    return results


def run_throughput(
    workdir: Path, procs: list[Proc], rates: tuple[int, ...], seconds: float
) -> list[RateResult]:
    port = free_port()
    data_dir = workdir / "load-data"
    command = [sys.executable, str(Path(__file__).resolve()), "--load-hub", str(data_dir), str(port)]
    hub = start("load-hub", command, workdir, procs, pipes=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(hub, url)
    token = (data_dir / "admin.token").read_text().strip()
    results = []
    for batch in MODES:
        results += anyio.run(measure_rates, hub, url, token, rates, seconds, batch)
    hub.stop()
    return results


def load_hub(data_dir: Path, port: int) -> None:
    """``--load-hub``: the hub of part 2, publishing ``RATE SECONDS`` worth of events per stdin line."""
    from corral.app import Hub
    from corral.config.file import ConfigFile
    from corral.config.settings import EventStreamSettings, Settings

    settings = Settings(
        data_dir=data_dir, host="127.0.0.1", port=port, events=EventStreamSettings(**HUB_EVENTS)
    )
    hub = Hub(settings, ConfigFile(path=None))

    async def publish(rate: int, seconds: float) -> tuple[int, int, float]:
        total, sent, first = int(rate * seconds), 0, 0
        started = time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                event = hub.bus.publish("metrics", "bench.load", "bench", {"seq": sent})
                first = first or event.id
                sent += 1
            await anyio.sleep(0.002)
        return first, hub.bus.last_id, time.monotonic() - started

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(hub.run)
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):
                rate, seconds = line.split()
                first, last, took = await publish(int(rate), float(seconds))
                print(first, last, f"{took:.4f}", flush=True)
            tg.cancel_scope.cancel()

    anyio.run(main)


# -- report ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def tables(latency: list[LatencyResult], rates: list[RateResult]) -> str:
    lines = [
        "| Connected clients | Kills | Samples | p50 | p99 | Slowest client per kill (median) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {result.clients} | {len(result.slowest)} | {len(result.samples)} "
        f"| {ms(statistics.median(result.samples))} | {ms(percentile(result.samples, 0.99))} "
        f"| {ms(statistics.median(result.slowest))} |"
        for result in latency
    ]
    rate_lines = [
        "| Messages | Offered events/s | Published events/s | Every client got every event in time "
        "| Last client finished after the publisher | Delivered events/s per client "
        f"| Events/s delivered in all ({THROUGHPUT_CLIENTS} clients) | Clients cut off | Hub CPU |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    rate_lines += [
        f"| {MODE_LABELS[r.batch]} | {r.offered} | {r.published_per_s:.0f} | {'yes' if r.kept_up else 'no'} "
        f"| {ms(r.lag_s)} | {r.delivered_per_s:.0f} | {r.delivered_per_s * THROUGHPUT_CLIENTS:.0f} "
        f"| {r.cut_off} | {r.hub_cpu:.0%} |"
        for r in rates
    ]
    best = {
        batch: max((r.offered for r in rates if r.kept_up and r.batch is batch), default=0) for batch in MODES
    }
    sustained = [f"{MODE_LABELS[batch]}: **{best[batch]} events/s**" for batch in MODES]
    return (
        "Status change (SIGKILL of a stdio server) → `server.status` event received by each client:\n\n"
        + "\n".join(lines)
        + f"\n\nEvents streamed to {THROUGHPUT_CLIENTS} clients. Sustained (every client got every event, in "
        f"order, none cut off, the last one within {KEEP_UP_S:g} s of the publisher; offered rates double "
        "until one is not): " + "; ".join(sustained) + ".\n\n" + "\n".join(rate_lines)
    )


def write_docs(body: str) -> None:
    write_section(HEADING, body)


def section(body: str, command: str, other_load: float) -> str:
    today = dt.date.today().isoformat()
    return (
        f"{HEADING}\n\n"
        f"Measured {today} on {os.cpu_count()} cores ({platform.machine()}, {platform.system()}), Python "
        f"{platform.python_version()}; processes other than the benchmark's used {other_load:.0%} of the "
        f"machine meanwhile. Command:\n\n    {command}\n\n"
        "Hub and clients on 127.0.0.1, SQLite store; the clients are `websockets` asyncio clients in one "
        "Python process (no compression offered), sharing the cores with the hub. See the docstring of "
        "`bench/events.py` for what each figure includes. With fewer than 100 samples p99 is the "
        "maximum.\n\n" + body + "\n"
    )


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def own_seconds() -> float:
    """CPU seconds of this process and of every child it has waited for (the hubs and theirs)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per client level (default 20)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per offered rate (default 4)")
    parser.add_argument("--quick", action="store_true", help="5 kills, 1 s per rate: a smoke test")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--load-hub", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_hub:
        load_hub(Path(args.load_hub[0]), int(args.load_hub[1]))
        return
    kills, seconds = (5, 1.0) if args.quick else (args.kills, args.seconds)
    command = shlex.join(["python", "bench/events.py", *sys.argv[1:]])
    procs: list[Proc] = []
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-events-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine_before, own_before, started = busy_seconds(), own_seconds(), time.monotonic()
    try:
        latency = run_latency(workdir, procs, kills, CLIENT_LEVELS)
        rates = run_throughput(workdir, procs, RATES, seconds)
    finally:
        stop_all(procs)
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    others = (busy_seconds() - machine_before) - (own_seconds() - own_before)
    other_load = max(0.0, others / (elapsed * (os.cpu_count() or 1)))
    body = tables(latency, rates)
    print(body)
    if not args.no_docs:
        write_docs(section(body, command, other_load))
        print(f"\nwritten under '{HEADING}' in {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
