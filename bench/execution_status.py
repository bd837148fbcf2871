"""What polling one execution costs: ``GET /api/v1/executions/{id}`` on a hub with some history.

A real ``corral serve`` (subprocess on 127.0.0.1, SQLite in a fresh data dir) supervises
``tests/servers/slow.py``. One workflow of ``--steps`` sequential ``sleep`` steps (the sleep a parameter)
is run ``--history`` times with 0 s sleeps, so the store holds the history the hub estimates from.
Then one client with one kept-alive HTTP connection (httpx) and the admin token requests, ``--requests``
times in a row after 20 untimed requests:

- **finished**: the status of one of those completed executions;
- **running**: the status of an execution of the same workflow whose first step sleeps (so it is
  running, and the answer carries an estimate of its completion).

Latency is from sending the request to having the whole body. It prints p50/p95/p99 in ms, and with
``--docs`` writes them under ``## Execution status`` in docs/benchmarks.md with the date and command.

    python bench/execution_status.py [--steps 5] [--history 200] [--requests 300] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section  # bench/ is the script's directory
from workflows import BenchError, launch, load_average, percentile, server_entry

HEADING = "## Execution status"
WAIT_S = 120.0


def workflow(steps: int) -> dict[str, object]:
    return {
        "workflow_id": "polled",
        "name": "polled",
        "params": {"seconds": {"type": "number", "default": 0}},
        "steps": [
            {
                "id": f"s{index}",
                "tool": "slow__sleep",
                "args": {"seconds": "{{ params.seconds }}" if index == 0 else 0},
                "dependencies": [f"s{index - 1}"] if index else [],
            }
            for index in range(steps)
        ],
    }


def timed(get: object, path: str, requests: int) -> list[float]:
    assert callable(get)
    for _ in range(20):
        get(path)
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = get(path)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise BenchError(f"GET {path}: {response.status_code} {response.text[:300]}")
    return samples


def measure(steps: int, history: int, requests: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="corral-bench-status-") as directory:
        hub = launch(Path(directory), {"mcpServers": {"slow": server_entry("slow")}}, None)
        try:
            hub.wait_ready()
            hub.request("POST", "/api/v1/workflows", workflow(steps))
            ids = [
                hub.request("POST", "/api/v1/workflows/polled/execute", {})["execution_id"]
                for _ in range(history)
            ]
            deadline = time.monotonic() + WAIT_S
            while hub.request("GET", f"/api/v1/executions/{ids[-1]}")["status"] != "completed":
                if time.monotonic() > deadline:
                    raise BenchError("the history did not complete in time")
                time.sleep(0.05)
            running = hub.request(
                "POST", "/api/v1/workflows/polled/execute", {"parameters": {"seconds": 600}}
            )["execution_id"]
            headers = hub.headers()

            def get(path: str) -> object:
                return hub.http.get(path, headers=headers)

            figures = {
                "finished": timed(get, f"/api/v1/executions/{ids[0]}", requests),
                "running": timed(get, f"/api/v1/executions/{running}", requests),
            }
            if hub.request("GET", f"/api/v1/executions/{running}")["status"] != "running":
                raise BenchError("the polled execution was not running throughout")
            return figures
        finally:
            hub.stop()


def table(figures: dict[str, list[float]]) -> str:
    lines = ["| execution | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|"]
    for name, samples in figures.items():
        cells = [f"{percentile(samples, q):.2f}" for q in (50, 95, 99)]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--history", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--docs", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args(argv)
    load_before = load_average()
    figures = measure(args.steps, args.history, args.requests)
    text = table(figures)
    print(text)
    print(f"median of all: {statistics.median([*figures['finished'], *figures['running']]):.2f} ms")
    if args.docs:
        command = "python bench/execution_status.py " + shlex.join(sys.argv[1:])
        write_section(
            HEADING,
            f"{HEADING}\n\n"
            f"`GET /api/v1/executions/{{id}}` with one kept-alive connection, {args.requests} requests, "
            f"a {args.steps}-step workflow with {args.history} completed executions on SQLite. "
            f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load {load_before} → {load_average()}.\n\n```sh\n{command}\n```\n\n{text}\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
