"""Tasks: what routing costs, what a task adds over a direct tool call, and how many tasks/s go through.

1. **Routing decision cost**, in process: ``Router.rank`` over 10, 100 and 1,000 agents that all offer a
   capability (a tenth of them busy, a tenth down), one decision at a time; microseconds per decision.
2. **A real hub** (``corral serve`` on 127.0.0.1, SQLite) with three echo agents (``tests/servers/echo.py``
   with an ``agent`` section, ``max_concurrent`` 16), measured side by side in one run:
   - *latency*: ``--calls`` calls one after another of the echo tool, directly
     (``POST /api/v1/tools/a1__echo/call``) and as a task (``POST /api/v1/tasks`` routed by capability,
     its end learned from the event stream's ``task.completed``), interleaved in slices; p50 and p99 of
     each and the p50 a task adds;
   - *throughput*: ``--burst`` tasks submitted by 32 concurrent clients, timed until the event stream
     has told of every one's end; against the same number of direct calls by 32 concurrent clients.

Medians over ``--runs`` runs (a fresh hub each). Writes ``## Tasks`` in docs/benchmarks.md.

    python bench/tasks.py [--runs 3] [--calls 200] [--burst 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from sections import write_section  # bench/ is the script's directory
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol
from workflows import BenchError, launch, load_average, percentile

from corral.tasks.routing import Candidate, Requirement, Router

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "tests" / "servers" / "echo.py"
AGENTS = ("a1", "a2", "a3")
SLICES = 10
CONCURRENCY = 32


def routing_cost(agents: int, decisions: int) -> float:
    """Microseconds per ``Router.rank`` over ``agents`` candidates."""
    candidates = [
        Candidate(
            agent_id=f"node{n % 7}/agent{n}",
            node=f"node{n % 7}",
            server=f"agent{n}",
            tools=frozenset({"echo", "add"}),
            capabilities=frozenset({"echo"}),
            labels={"zone": "eu" if n % 2 else "us"},
            serving=n % 10 != 3,
            in_flight=4 if n % 10 == 5 else n % 3,
            max_concurrent=4,
        )
        for n in range(agents)
    ]
    router = Router()
    requirement = Requirement(capability="echo", preferred_labels={"zone": "eu"})
    started = time.perf_counter()
    for _ in range(decisions):
        router.rank(requirement, candidates)
    return (time.perf_counter() - started) / decisions * 1e6


def config() -> dict[str, Any]:
    return {
        "mcpServers": {
            name: {
                "command": sys.executable,
                "args": [str(ECHO)],
                "agent": {"capabilities": ["echo"], "max_concurrent": 16},
            }
            for name in AGENTS
        }
    }


class Hub:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=CONCURRENCY + 4),
        )
        self.finished: dict[str, anyio.Event] = {}
        self.completed = 0
        self._progress = anyio.Event()

    async def reached(self, completed: int) -> None:
        """Wait until the stream has told of ``completed`` tasks' ends in all."""
        while self.completed < completed:
            await self._progress.wait()
            self._progress = anyio.Event()

    async def follow(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        url = self.url.replace("http://", "ws://") + "/ws/events?topics=tasks&batch=1"
        protocols = [Subprotocol("bearer"), Subprotocol(self.token)]
        async with connect(url, subprotocols=protocols, proxy=None, max_queue=None) as ws:
            json.loads(await ws.recv())  # the snapshot
            task_status.started()
            async for raw in ws:
                message = json.loads(raw)
                events = message["events"] if message.get("type") == "events" else [message]
                for event in events:
                    if event.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif event.get("type") in ("task.completed", "task.failed"):
                        if event["type"] == "task.failed":
                            raise BenchError(f"task failed: {event}")
                        self.completed += 1
                        self.finished.setdefault(event["subject"], anyio.Event()).set()
                        self._progress.set()

    async def direct(self, text: str) -> None:
        response = await self.http.post("/api/v1/tools/a1__echo/call", json={"arguments": {"text": text}})
        if response.status_code != 200 or response.json()["isError"]:
            raise BenchError(f"direct call: {response.status_code} {response.text[:300]}")

    async def task(self, text: str, *, wait: bool = True) -> None:
        body = {"capability": "echo", "tool": "echo", "arguments": {"text": text}}
        response = await self.http.post("/api/v1/tasks", json=body)
        if response.status_code != 201:
            raise BenchError(f"task: {response.status_code} {response.text[:300]}")
        if wait:
            with anyio.fail_after(30):
                await self.finished.setdefault(response.json()["id"], anyio.Event()).wait()


async def timed(call: Any, text: str) -> float:
    started = time.perf_counter()
    await call(text)
    return (time.perf_counter() - started) * 1000


async def burst(count: int, call: Any) -> float:
    """Seconds for ``count`` calls by ``CONCURRENCY`` concurrent clients."""
    remaining = iter(range(count))

    async def worker() -> None:
        for n in remaining:
            await call(f"b{n}")

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(CONCURRENCY):
            tg.start_soon(worker)
    return time.perf_counter() - started


async def one_run(directory: Path, calls: int, count: int) -> dict[str, float]:
    hub_process = launch(directory, config(), None)
    try:
        await anyio.to_thread.run_sync(hub_process.wait_ready)
        token = (hub_process.data_dir / "admin.token").read_text().strip()
        hub = Hub(hub_process.url, token)
        async with hub.http, anyio.create_task_group() as tg:
            await tg.start(hub.follow)
            for warm in range(20):
                await hub.direct(f"w{warm}")
                await hub.task(f"w{warm}")
            direct: list[float] = []
            routed: list[float] = []
            per_slice = max(1, calls // SLICES)
            for index in range(SLICES):
                direct += [await timed(hub.direct, f"d{index}") for _ in range(per_slice)]
                routed += [await timed(hub.task, f"t{index}") for _ in range(per_slice)]
            direct_s = await burst(count, hub.direct)
            before = hub.completed
            started = time.perf_counter()
            await burst(count, lambda text: hub.task(text, wait=False))
            with anyio.fail_after(120):
                await hub.reached(before + count)
            tasks_s = time.perf_counter() - started
            tg.cancel_scope.cancel()
        return {
            "direct_p50": percentile(direct, 50),
            "direct_p99": percentile(direct, 99),
            "task_p50": percentile(routed, 50),
            "task_p99": percentile(routed, 99),
            "added_p50": percentile(routed, 50) - percentile(direct, 50),
            "direct_per_s": count / direct_s,
            "tasks_per_s": count / tasks_s,
        }
    finally:
        hub_process.stop()


def row(label: str, median: dict[str, float], kind: str) -> str:
    rate = median["direct_per_s" if kind == "direct" else "tasks_per_s"]
    return f"| {label} | {median[kind + '_p50']:.2f} | {median[kind + '_p99']:.2f} | {rate:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200, help="sequential calls per kind and run")
    parser.add_argument("--burst", type=int, default=500, help="concurrent calls and tasks per run")
    args = parser.parse_args()

    routing = {
        size: statistics.median(routing_cost(size, max(50, 20_000 // size)) for _ in range(5))
        for size in (10, 100, 1000)
    }
    for size, micros in routing.items():
        print(f"routing over {size} agents: {micros:.1f} µs a decision")
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="corral-bench-tasks-") as tmp:
            figures = anyio.run(one_run, Path(tmp), args.calls, args.burst)
        print(f"run {run + 1}: " + ", ".join(f"{key} {value:.2f}" for key, value in figures.items()))
        runs.append(figures)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    command = "python bench/tasks.py " + shlex.join(sys.argv[1:])
    heading = (
        f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load {load_average()}, SQLite. `{command.strip()}` (medians of {args.runs} runs, each on a fresh "
        "hub; see the script's docstring)."
    )
    routing_rows = "".join(f"| {size} | {micros:.1f} |\n" for size, micros in routing.items())
    direct = row("direct tool call (`POST /api/v1/tools/a1__echo/call`)", median, "direct")
    task = row("task (`POST /api/v1/tasks`, end from the event stream)", median, "task")
    text = f"""## Tasks

{heading}

Routing decision cost (`Router.rank`, in process, a tenth of the agents busy and a tenth down):

| agents | µs a decision |
|---:|---:|
{routing_rows}
Through a hub with three echo agents, side by side in one run (latency: {args.calls} sequential calls of
each kind, interleaved; throughput: {args.burst} by {CONCURRENCY} concurrent clients):

| | p50 ms | p99 ms | per second |
|---|---:|---:|---:|
{direct}
{task}

A task adds {median["added_p50"]:.2f} ms at p50: it is stored, routed, recorded as running and as
done (three store writes on the one SQLite writer), and its end reaches the stream only once the event
log has stored it (events are stored before they are sent).
"""
    write_section("## Tasks", text)
    print(text)


if __name__ == "__main__":
    main()
