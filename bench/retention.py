"""Retention benchmark: what a tool call leaves in the store, and whether pruning slows tool calls down.

One ``corral serve`` (subprocess on 127.0.0.1, SQLite, a stdio ``tests/servers/echo.py``) is started on
a store that already holds ``--backlog`` audit entries and as many events, all 200 days old (written
straight into the file while no hub runs). Two phases, each ``--calls`` calls of ``echo__echo`` through
``/mcp`` from ``--concurrency`` SDK sessions (after ``WARMUP`` untimed calls):

- **quiet**: retention is off (every limit 0), so nothing is pruned;
- **pruning**: the same hub restarted with retention on (audit 90 days with archiving, events 7 days):
  the pruner starts at once on the backlog, and the calls run while it deletes. Rows pruned during the
  calls are read from ``/api/v1/retention`` before and after, to show the two overlapped.

Both phases are repeated ``--runs`` times, alternated, each run first adding the backlog again (the
machine's load changes between them; medians are reported). Reported per phase: calls/s, p50, p99 and
max of the call latency; and, from the quiet phase, what one call adds to the store (audit rows,
events, bytes of the SQLite file, checkpointed). Last, in this process, what writing them costs: the
time per row of ``AuditStore.append`` and ``EventStore.append`` in batches of ``STORE_BATCH`` (the
batches the audit log and the event log write), ``STORE_ROWS`` rows each, on a fresh SQLite store.
With ``--docs`` the table replaces ``## Retention`` in docs/benchmarks.md.

    python bench/retention.py [--runs 3] [--backlog 300000] [--calls 3000] [--concurrency 8] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sections import write_section  # bench/ is the script's directory
from workflows import BenchError, HubProcess, launch, load_average, server_entry

from corral.audit.log import published
from corral.audit.models import AuditEntry
from corral.audit.store import AuditStore
from corral.db.engine import open_database
from corral.db.migrate import upgrade
from corral.events.models import Event
from corral.events.store import EventStore

HEADING = "## Retention"
WARMUP = 100
OFF = {f"{kind}_keep_{limit}": 0 for kind in ("audit", "events") for limit in ("days", "rows")}
ON = {
    "audit_keep_days": 90,
    "audit_keep_rows": 10_000_000,
    "events_keep_days": 7,
    "events_keep_rows": 2_000_000,
}
CALL_TIMEOUT_S = 600.0
OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
STORE_ROWS, STORE_BATCH = 50_000, 500


@dataclass
class Phase:
    name: str
    latencies: list[float]
    seconds: float
    pruned: int

    def figures(self) -> tuple[float, float, float, float]:
        """calls/s, p50, p99, max (seconds)."""
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return len(ordered) / self.seconds, statistics.median(ordered), p99, ordered[-1]


def row(runs: list[Phase]) -> str:
    """One phase over every run: the median of each figure, and each run's p99."""
    figures = [run.figures() for run in runs]
    rate, p50, p99, most = (statistics.median(column) for column in zip(*figures, strict=True))
    each = ", ".join(f"{run[2] * 1000:.0f}" for run in figures)
    pruned = statistics.median(run.pruned for run in runs)
    return (
        f"| {runs[0].name} | {rate:.0f} | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms ({each}) "
        f"| {most * 1000:.0f} ms | {pruned:,.0f} |"
    )


def config(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "mcpServers": {"echo": server_entry("echo")},
        "hub": {"auth": {"rate_limit_per_s": 0}},
        "settings": {"prune_interval_s": 3600, **settings},
    }


def preload(store: Path, backlog: int) -> None:
    """Old audit entries and events, written as the hub would have, in the past."""
    connection = sqlite3.connect(store)
    with connection:
        first = (connection.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        detail = json.dumps({"arguments": {"text": "x" * 120}})
        when = OLD.strftime("%Y-%m-%d %H:%M:%S.%f")
        connection.executemany(
            "INSERT INTO audit (time, actor, action, target, outcome, source, duration_ms, detail) "
            "VALUES (?, 'admin', 'tool.call', 'echo/echo', 'ok', '127.0.0.1', 1.0, ?)",
            ((when, detail) for _ in range(backlog)),
        )
        data = json.dumps({"actor": "admin", "action": "tool.call", "target": "echo/echo", "detail": {}})
        connection.executemany(
            "INSERT INTO events (id, time, topic, type, subject, data) "
            "VALUES (?, ?, 'audit', 'audit.recorded', 'echo/echo', ?)",
            ((first + n, when, data) for n in range(backlog)),
        )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


@asynccontextmanager
async def session(url: str, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30)) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
    ):
        yield client


async def calls(hub: HubProcess, count: int, concurrency: int) -> tuple[list[float], float]:
    token = (hub.data_dir / "admin.token").read_text().strip()
    latencies: list[float] = []

    async def worker(client: Client, share: int, timed: bool) -> None:
        for _ in range(share):
            started = time.perf_counter()
            result = await client.call_tool("echo__echo", {"text": "hello"})
            if result.is_error:
                raise BenchError(f"a call failed: {result}")
            if timed:
                latencies.append(time.perf_counter() - started)

    async with _sessions(hub.url, token, concurrency) as clients:
        with anyio.fail_after(CALL_TIMEOUT_S):
            async with anyio.create_task_group() as tg:
                for client in clients:
                    tg.start_soon(worker, client, WARMUP // concurrency, False)
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for client in clients:
                    tg.start_soon(worker, client, count // concurrency, True)
            return latencies, time.perf_counter() - started


@asynccontextmanager
async def _sessions(url: str, token: str, count: int) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(session(url, token)) for _ in range(count)]
        for client in clients:
            await client.list_tools()
        yield clients


def pruned(hub: HubProcess) -> int:
    kinds = hub.request("GET", "/api/v1/retention")["kinds"]
    return int(kinds["audit"]["deleted"] + kinds["events"]["deleted"])


def store_bytes(hub: HubProcess) -> int:
    store = hub.data_dir / "corral.db"
    return sum(path.stat().st_size for path in (store, Path(f"{store}-wal")) if path.exists())


def counted(store: Path) -> tuple[int, int]:
    connection = sqlite3.connect(store)
    try:
        audit = connection.execute("SELECT count(*) FROM audit").fetchone()[0]
        events = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        connection.close()
    return int(audit), int(events)


def phase(directory: Path, name: str, settings: dict[str, Any], count: int, concurrency: int) -> Phase:
    hub = launch(directory, config(settings), None)
    try:
        hub.wait_ready()
        before = pruned(hub)
        latencies, seconds = anyio.run(calls, hub, count, concurrency)
        return Phase(name, latencies, seconds, pruned(hub) - before)
    finally:
        hub.stop()


def bench(
    runs: int, backlog: int, count: int, concurrency: int
) -> tuple[list[list[Phase]], dict[str, float]]:
    """``runs`` times: add the backlog, then a quiet phase, then a pruning phase; the phases by run."""
    with tempfile.TemporaryDirectory(prefix="corral-bench-retention-") as scratch:
        directory = Path(scratch)
        first = launch(directory, config(OFF), None)  # makes and migrates the store
        try:
            first.wait_ready()
        finally:
            first.stop()
        store = directory / "data" / "corral.db"
        phases, per_call = [], {}
        for _ in range(runs):
            preload(store, backlog)
            rows_before, size_before = counted(store), store.stat().st_size
            quiet = phase(directory, "quiet (retention off)", OFF, count, concurrency)
            _checkpoint(store)
            rows_after, size_after = counted(store), store.stat().st_size
            calls_made = count + WARMUP
            per_call = {
                "audit rows": (rows_after[0] - rows_before[0]) / calls_made,
                "events": (rows_after[1] - rows_before[1]) / calls_made,
                "bytes": (size_after - size_before) / calls_made,
            }
            phases.append([quiet, phase(directory, "pruning a backlog", ON, count, concurrency)])
        return phases, per_call


async def store_cost() -> dict[str, float]:
    """Seconds per row to store a tool call's audit entry and its ``audit.recorded`` event."""
    with tempfile.TemporaryDirectory(prefix="corral-bench-store-") as scratch:
        database = open_database(f"sqlite+aiosqlite:///{scratch}/corral.db")
        try:
            await upgrade(database)
            entry = AuditEntry(
                dt.datetime.now(dt.UTC), "admin", "tool.call", "echo/echo", "ok", "127.0.0.1", 1.2
            )
            audit, events = AuditStore(database), EventStore(database)
            started = time.perf_counter()
            for _ in range(STORE_ROWS // STORE_BATCH):
                await audit.append([entry] * STORE_BATCH)
            audit_s = time.perf_counter() - started
            started = time.perf_counter()
            for first in range(1, STORE_ROWS, STORE_BATCH):
                await events.append(
                    [
                        Event(
                            first + n, "audit", "audit.recorded", entry.target, entry.time, published(entry)
                        )
                        for n in range(STORE_BATCH)
                    ]
                )
            events_s = time.perf_counter() - started
        finally:
            await database.close()
    return {"audit": audit_s / STORE_ROWS, "event": events_s / STORE_ROWS}


def _checkpoint(store: Path) -> None:
    connection = sqlite3.connect(store)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def section(
    phases: list[list[Phase]], per_call: dict[str, float], cost: dict[str, float], args: argparse.Namespace
) -> str:
    command = "python bench/retention.py " + shlex.join(sys.argv[1:])
    return "\n".join(
        [
            HEADING,
            "",
            f"{dt.date.today()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average at start {load_average()}; `{command}`.",
            f"`echo__echo` through `/mcp`, {args.calls} calls from {args.concurrency} sessions per phase, "
            f"{args.runs} runs, each after adding {args.backlog:,} audit entries and {args.backlog:,} events "
            "200 days old to the SQLite store. Medians over the runs (p99: each run's in brackets); rows "
            "pruned: audit entries and events deleted while the calls (and their warm-up) ran.",
            "",
            "| phase | calls/s | p50 | p99 | max | rows pruned meanwhile |",
            "|---|---|---|---|---|---|",
            *(row([run[index] for run in phases]) for index in range(2)),
            "",
            "What one tool call adds to the store (quiet phase, WAL checkpointed): "
            f"{per_call['audit rows']:.2f} audit rows, {per_call['events']:.2f} events, "
            f"{per_call['bytes']:.0f} bytes. Writing them, in batches of {STORE_BATCH}: "
            f"{cost['audit'] * 1e6:.0f} µs per audit row and {cost['event'] * 1e6:.0f} µs per event.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Quiet and pruning phases, alternated.")
    parser.add_argument(
        "--backlog", type=int, default=300_000, help="Old audit entries (and events) to prune."
    )
    parser.add_argument("--calls", type=int, default=3000, help="Timed calls per phase.")
    parser.add_argument("--concurrency", type=int, default=8, help="MCP sessions calling at once.")
    parser.add_argument("--docs", action="store_true", help="Write the figures into docs/benchmarks.md.")
    args = parser.parse_args(argv)
    phases, per_call = bench(args.runs, args.backlog, args.calls, args.concurrency)
    text = section(phases, per_call, anyio.run(store_cost), args)
    print(text)
    if args.docs:
        write_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
