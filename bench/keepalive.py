"""Why a client once got "Server disconnected without sending a response": a kept-alive connection that
the hub closed as the client reused it.

httpx keeps an idle connection for 5 s (``keepalive_expiry``), and uvicorn closed one after 5 s idle
(``timeout_keep_alive``). The hub starts counting when it has sent a response, the client when it has
read it, a little later; so a request sent on a connection idle for just under 5 s by the client's
clock finds the hub closing it. A client driving the hub from outside is in exactly that spot when it
waits for events between REST calls (W3 in docs/benchmarks.md: starts spaced by completions, seconds
apart).

This launches a ``corral serve`` (subprocess on 127.0.0.1, no servers) and ``--clients`` httpx clients
with httpx's default pool, each holding one connection: client ``i`` waits ``--from + i * --step``
seconds between two requests, for ``--rounds`` rounds, so the waits sweep the window around 5 s at
once. It counts requests that failed, by kind, and prints them; ``--docs`` writes the figures under
``## Keep-alive`` in docs/benchmarks.md.

    python bench/keepalive.py [--clients 40] [--from 4.8] [--step 0.01] [--rounds 3] [--docs]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

import anyio
import httpx
from sections import write_section  # bench/ is the script's directory
from workflows import launch, load_average

HEADING = "## Keep-alive"


async def client(url: str, headers: dict[str, str], wait_s: float, rounds: int, outcomes: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        for round_ in range(rounds + 1):
            try:
                response = await http.get("/api/v1/servers")
                outcomes.append("ok" if response.status_code == 200 else f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
            if round_ < rounds:
                await anyio.sleep(wait_s)


async def busy(url: str, headers: dict[str, str], done: anyio.Event) -> None:
    """Keep the hub's event loop busy (requests back to back), as a hub under load is."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        while not done.is_set():
            await http.get("/api/v1/servers")


async def sweep(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[float, list[str]]:
    results: dict[float, list[str]] = {}
    done = anyio.Event()
    async with anyio.create_task_group() as load:
        for _ in range(args.busy):
            load.start_soon(busy, url, headers, done)
        async with anyio.create_task_group() as tg:
            for index in range(args.clients):
                wait_s = round(args.start + index * args.step, 4)
                results[wait_s] = []
                tg.start_soon(client, url, headers, wait_s, args.rounds, results[wait_s])
        done.set()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--from", dest="start", type=float, default=4.8)
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=8, help="clients keeping the hub busy meanwhile")
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args(argv)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="corral-bench-keepalive-") as directory:
        hub = launch(Path(directory), {"mcpServers": {}}, None)
        try:
            hub.wait_ready()
            results = anyio.run(sweep, hub.url, hub.headers(), args)
        finally:
            hub.stop()
    kinds = collections.Counter(outcome for outcomes in results.values() for outcome in outcomes)
    failed_waits = sorted(wait for wait, outcomes in results.items() if any(o != "ok" for o in outcomes))
    total = sum(kinds.values())
    lines = [f"{count} × {kind}" for kind, count in kinds.most_common()]
    summary = f"{total - kinds['ok']} of {total} requests failed" + (
        f"; waits that failed: {failed_waits[0]:.2f}–{failed_waits[-1]:.2f} s" if failed_waits else ""
    )
    print("\n".join([*lines, summary]))
    if args.docs:
        command = "python bench/keepalive.py " + shlex.join(sys.argv[1:])
        write_section(
            HEADING,
            f"{HEADING}\n\n{args.clients} clients (httpx defaults: a connection kept 5 s idle), waits "
            f"{args.start:.2f}–{args.start + (args.clients - 1) * args.step:.2f} s between requests, "
            f"{args.rounds} rounds. {dt.date.today().isoformat()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load {load_before}.\n\n```sh\n{command}\n```\n\n"
            + "\n".join(f"- {line}" for line in [*lines, summary])
            + "\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
