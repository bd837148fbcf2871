"""Soak gate: minutes of mixed load on one hub, and whether what it holds levels off.

One ``corral serve`` (subprocess, 127.0.0.1, SQLite unless ``--store-url``) with two stdio servers,
``echo`` and ``victim`` (both ``tests/servers/echo.py``), under all of this at once for ``--minutes``:

- tool calls through ``/mcp`` at a steady rate (``--rate`` per second, open loop: a call starts on time
  whether or not the ones before it ended), spread over ``--sessions`` SDK sessions, to ``echo__echo``,
  and one in ten to ``victim__echo``;
- workflows started continuously over REST (``--workflows`` per second, three ``echo__echo`` steps),
  their ends learnt from the event stream;
- ``--followers`` WebSocket clients following every event;
- every minute the ``victim`` server's process SIGKILLed (its pid read from the REST API);
- retention set to keep ``--keep-rows`` audit entries and events (a tenth as many finished
  executions), pruned every 10 s, so that the store's size can level off within the run.

Reported: calls and executions done; errors, which must be 0 apart from calls to ``victim`` that failed
while it was down (each must say why: an empty message counts as an error); p50/p99 of the ``/mcp``
calls in the first minute and in the last; hub RSS and store size (database and WAL) after the first
minute and at the end, which must level off. ``--docs`` writes them under ``## Soak`` in
docs/benchmarks.md.

    python bench/soak.py [--minutes 10] [--rate 40] [--workflows 2] [--followers 100] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import psutil
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sections import write_section  # bench/ is the script's directory
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol
from workflows import CorralClient, HubProcess, chain, launch, load_average, server_entry

HEADING = "## Soak"
KILL_EVERY_S = 60.0
SAMPLE_EVERY_S = 10.0
PRUNE_EVERY_S = 10.0
VICTIM_SHARE = 10
"""One call in this many goes to the server that is killed every minute."""


@dataclass
class Tally:
    """What the load saw, by minute where it matters."""

    started: float = field(default_factory=time.perf_counter)
    calls: int = 0
    victim_calls: int = 0
    victim_failures: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    executions: int = 0
    kills: int = 0
    events_followed: int = 0
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    """(seconds since start, hub RSS in MiB, store size in MiB)"""

    def minute(self) -> int:
        return int((time.perf_counter() - self.started) // 60)

    def error(self, what: str) -> None:
        self.errors[what[:200]] += 1


@asynccontextmanager
async def mcp_session(hub: HubProcess) -> AsyncIterator[Client]:
    headers = hub.headers()
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(f"{hub.url}/mcp", http_client=http), mode="legacy") as client,
    ):
        yield client


async def call(session: Client, tally: Tally, victim: bool) -> None:
    tool = "victim__echo" if victim else "echo__echo"
    started = time.perf_counter()
    try:
        result = await session.call_tool(tool, {"text": "soak"})
        failed = result.is_error
        message = " ".join(getattr(part, "text", "") for part in result.content)
    except Exception as exc:  # a call that failed is counted, not fatal to the soak
        failed, message = True, f"{type(exc).__name__}: {exc}"
    if victim:
        tally.victim_calls += 1
        if failed:
            if message.strip():
                tally.victim_failures[message[:120]] += 1
            else:
                tally.error("a call to the killed server failed without a message")
        return
    tally.calls += 1
    if failed:
        tally.error(f"echo__echo: {message}")
        return
    tally.latencies.setdefault(tally.minute(), []).append(time.perf_counter() - started)


async def steady_calls(sessions: list[Client], rate: float, until: float, tally: Tally) -> None:
    async with anyio.create_task_group() as tg:
        sent = 0
        while (now := time.perf_counter()) < until:
            due = tally.started + sent / rate
            if due > now:
                await anyio.sleep(due - now)
            tg.start_soon(call, sessions[sent % len(sessions)], tally, sent % VICTIM_SHARE == 0)
            sent += 1


async def steady_workflows(client: CorralClient, rate: float, until: float, tally: Tally) -> None:
    async def one() -> None:
        try:
            await client.run("soak")
            tally.executions += 1
        except Exception as exc:  # counted, the soak goes on
            tally.error(f"workflow: {exc}")

    async with anyio.create_task_group() as tg:
        started = 0
        while (now := time.perf_counter()) < until:
            due = tally.started + started / rate
            if due > now:
                await anyio.sleep(due - now)
            tg.start_soon(one)
            started += 1


async def follow(hub: HubProcess, tally: Tally) -> None:
    """One WebSocket client following every event until cancelled; a close by the hub is an error."""
    protocols = [Subprotocol("bearer"), Subprotocol(hub.token)]
    url = f"{hub.url.replace('http://', 'ws://', 1)}/ws/events?batch=1"
    try:
        async with connect(url, subprotocols=protocols, proxy=None, max_queue=None) as ws:
            await read_events(ws, tally)
            tally.error(f"the hub closed a follower: {ws.close_code} {ws.close_reason}")
    except Exception as exc:  # counted, the soak goes on
        tally.error(f"follower: {type(exc).__name__}: {exc}")


async def read_events(ws: ClientConnection, tally: Tally) -> None:
    async for raw in ws:
        message = json.loads(raw)
        for event in message["events"] if message.get("type") == "events" else [message]:
            if event.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            else:
                tally.events_followed += 1


async def kill_victim(hub: HubProcess, until: float, tally: Tally) -> None:
    while time.perf_counter() + KILL_EVERY_S < until:
        await anyio.sleep(KILL_EVERY_S)
        pid = (await anyio.to_thread.run_sync(hub.request, "GET", "/api/v1/servers/victim")).get("pid")
        if pid:
            os.kill(pid, signal.SIGKILL)
            tally.kills += 1


async def sample(hub: HubProcess, until: float, tally: Tally) -> None:
    process = psutil.Process(hub.process.pid)
    store = [hub.data_dir / "corral.db", hub.data_dir / "corral.db-wal"]
    while time.perf_counter() < until:
        await anyio.sleep(SAMPLE_EVERY_S)
        size = sum(path.stat().st_size for path in store if path.exists())
        tally.samples.append(
            (time.perf_counter() - tally.started, process.memory_info().rss / 2**20, size / 2**20)
        )


async def soak(args: argparse.Namespace, directory: Path) -> Tally:
    servers = {name: server_entry("echo") for name in ("echo", "victim")}
    keep = args.keep_rows
    retention = {
        "audit_keep_rows": keep, "events_keep_rows": keep, "executions_keep_rows": keep // 10,
        "prune_interval_s": PRUNE_EVERY_S,
    }  # fmt: skip
    config = {"mcpServers": servers, "settings": {"restart_initial_s": 0.2, **retention}}
    hub = launch(directory, config, args.store_url)
    try:
        await anyio.to_thread.run_sync(hub.wait_ready)
        client = CorralClient(hub, connections=32)
        tally = Tally()
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(mcp_session(hub)) for _ in range(args.sessions)]
            await stack.enter_async_context(client.http)
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(client.follow)
            await client.create(chain("soak", 3, "echo__echo", {"text": "soak"}))
            for _ in range(args.followers):
                tg.start_soon(follow, hub, tally)
            tally.started = time.perf_counter()
            until = tally.started + args.minutes * 60
            async with anyio.create_task_group() as load:
                load.start_soon(steady_calls, sessions, args.rate, until, tally)
                load.start_soon(steady_workflows, client, args.workflows, until, tally)
                load.start_soon(kill_victim, hub, until, tally)
                load.start_soon(sample, hub, until, tally)
            tg.cancel_scope.cancel()
        tally.errors.update(f"hub log: {line}" for line in hub.logged_errors())
        return tally
    finally:
        await anyio.to_thread.run_sync(hub.stop)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def report(tally: Tally, args: argparse.Namespace) -> str:
    first, last = tally.latencies.get(0, []), tally.latencies.get(max(tally.latencies, default=0), [])
    after_minute = next((s for s in tally.samples if s[0] >= 60), tally.samples[0] if tally.samples else None)
    middle = tally.samples[len(tally.samples) // 2] if tally.samples else None
    end = tally.samples[-1] if tally.samples else None

    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    def mib(sample: tuple[float, float, float] | None, index: int) -> str:
        return f"{sample[index]:.0f} MiB" if sample else "—"

    rows = [
        ("tool calls through `/mcp` (`echo`)", f"{tally.calls:,}"),
        ("executions completed (3 steps each)", f"{tally.executions:,}"),
        ("events delivered to the followers (sum)", f"{tally.events_followed:,}"),
        ("errors (must be 0)", f"{sum(tally.errors.values())}"),
        (
            f"calls to `victim` (SIGKILLed {tally.kills}×): failed while it was down",
            f"{sum(tally.victim_failures.values())} of {tally.victim_calls}",
        ),
        ("p50 / p99, first minute", f"{ms(percentile(first, 50))} / {ms(percentile(first, 99))}"),
        ("p50 / p99, last minute", f"{ms(percentile(last, 50))} / {ms(percentile(last, 99))}"),
        (
            "hub RSS after the first minute → half-way → at the end",
            f"{mib(after_minute, 1)} → {mib(middle, 1)} → {mib(end, 1)}",
        ),
        (
            "store (database + WAL) after the first minute → half-way → at the end",
            f"{mib(after_minute, 2)} → {mib(middle, 2)} → {mib(end, 2)}",
        ),
    ]
    table = "| Measurement | Value |\n|---|---:|\n" + "".join(
        f"| {name} | {value} |\n" for name, value in rows
    )
    details = "".join(f"- error ×{count}: {what}\n" for what, count in tally.errors.most_common(10))
    details += "".join(
        f"- `victim` failure ×{count}: {what}\n" for what, count in tally.victim_failures.most_common(5)
    )
    return table + ("\n" + details if details else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="tool calls per second through /mcp")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--workflows", type=float, default=2.0, help="workflows started per second")
    parser.add_argument("--followers", type=int, default=100, help="WebSocket clients following events")
    parser.add_argument(
        "--keep-rows",
        type=int,
        default=20_000,
        help="retention: audit entries and events kept (finished executions: a tenth), pruned every 10 s",
    )
    parser.add_argument("--store-url", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--docs", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args(argv)
    load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="corral-soak-") as directory:
        tally = anyio.run(soak, args, Path(directory))
    text = report(tally, args)
    print(text)
    if args.docs:
        command = "python bench/soak.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        write_section(
            HEADING,
            f"{HEADING}\n\nMeasured {dt.date.today().isoformat()} on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average {load_at_start} at the start, {load_average()} at "
            f"the end. {args.minutes:g} minutes: {args.rate:g} calls/s through `/mcp` over {args.sessions} "
            f"sessions (one in {VICTIM_SHARE} to `victim`), {args.workflows:g} workflows/s started over "
            f"REST, {args.followers} WebSocket followers, `victim` SIGKILLed every minute; retention keeps "
            f"{args.keep_rows:,} audit entries and events and pruned every {PRUNE_EVERY_S:g} s. Command:\n\n"
            f"    {command}\n\n{text}",
        )
    return 1 if tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
