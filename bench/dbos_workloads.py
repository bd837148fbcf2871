"""The workflow benchmark's workloads written on DBOS Transact, as a user of that library would write them.

Run by ``bench/workflows.py`` in its own virtual environment (``dbos`` and ``mcp`` from PyPI, see
``bench/dbos-requirements.txt``); it imports nothing of Corral's. One process is one DBOS application
on one fresh system database (``--db``: ``sqlite:///FILE`` or a ``postgresql://`` URL). Steps are
either

- ``noop``: an async ``@DBOS.step`` that returns its argument (W4: ``asyncio.sleep``; W5: appends a
  line to the record file, fsyncs it, then sleeps), or
- ``mcp``: an async ``@DBOS.step`` that calls a tool over stdio through the ``mcp`` SDK's ``Client``,
  one client per server opened when the application starts: ``echo`` of ``tests/servers/echo.py``
  (W1-W3), ``sleep`` of ``tests/servers/slow.py`` (W4), ``record`` of ``tests/servers/recorder.py``
  (W5), each started with ``--server-python``, the interpreter Corral's hub starts them with.

``run`` prints one JSON object of figures on stdout. ``crash`` is W5's application: ``--phase start``
starts the 20-step chain under a fixed workflow id and keeps running until the parent SIGKILLs it;
``--phase resume`` launches DBOS again on the same database (which recovers the workflow), waits for
its result and prints ``{"status": ...}`` once it has it.

    python bench/dbos_workloads.py run --db URL --steps noop|mcp --workloads W1,W2 --sizes JSON ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

CRASH_WORKFLOW_ID = "w5-durable"
RESULT_POLL_S = 0.01  # how often a retrieved handle polls the store for its result (DBOS default: 1 s)

STEPS: dict[str, Any] = {}  # the steps the workflows call (call, wait, record): chosen by --steps


# -- steps -----------------------------------------------------------------------------------------


@DBOS.step()
async def noop_call(text: str) -> str:
    return text


@DBOS.step()
async def noop_wait(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@DBOS.step()
async def noop_record(key: str, linger: float) -> str:
    append_record(os.environ["RECORDER_FILE"], key)
    await asyncio.sleep(linger)
    return key


CLIENTS: dict[str, Any] = {}  # mcp.Client by server, opened by application()


async def call_tool(server: str, tool: str, arguments: dict[str, Any]) -> str:
    result = await CLIENTS[server].call_tool(tool, arguments)
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        raise RuntimeError(f"{server} {tool}: {text}")
    return text


@DBOS.step()
async def mcp_call(text: str) -> str:
    return await call_tool("echo", "echo", {"text": text})


@DBOS.step()
async def mcp_wait(seconds: float) -> str:
    return await call_tool("slow", "sleep", {"seconds": seconds})


@DBOS.step()
async def mcp_record(key: str, linger: float) -> str:
    return await call_tool("recorder", "record", {"key": key, "linger": linger})


def append_record(path: str, key: str) -> None:
    """What tests/servers/recorder.py's ``record`` does: one durable JSON line per call."""
    line = json.dumps({"key": key, "value": "", "pid": os.getpid(), "tool": "record"})
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


# -- workflows -------------------------------------------------------------------------------------


@DBOS.workflow()
async def chain(count: int) -> int:
    for _ in range(count):
        await STEPS["call"]("x")
    return count


@DBOS.workflow()
async def fan_out(width: int) -> int:
    # Each step is called (and so numbered) in order here; gather only runs them together.
    await asyncio.gather(*(STEPS["call"]("x") for _ in range(width)))
    await STEPS["call"]("join")
    return width + 1


@DBOS.workflow()
async def waits(count: int, seconds: float) -> int:
    for _ in range(count):
        await STEPS["wait"](seconds)
    return count


@DBOS.workflow()
async def recorded(count: int, linger: float) -> int:
    for index in range(1, count + 1):
        await STEPS["record"](f"s{index:02d}", linger)
    return count


# -- the application -------------------------------------------------------------------------------


@asynccontextmanager
async def application(args: argparse.Namespace) -> AsyncIterator[None]:
    """The MCP clients (for ``--steps mcp``) and DBOS, launched on this event loop; all closed at the end."""
    if args.steps == "mcp":
        STEPS.update(call=mcp_call, wait=mcp_wait, record=mcp_record)
    else:
        STEPS.update(call=noop_call, wait=noop_wait, record=noop_record)
    async with AsyncExitStack() as stack:
        if args.steps == "mcp":
            from mcp import Client, StdioServerParameters  # only where used: it takes a while to import

            env = {"RECORDER_FILE": os.environ.get("RECORDER_FILE", "")}
            for name in servers_needed(args):
                script = str(Path(args.servers_dir) / f"{name}.py")
                params = StdioServerParameters(command=args.server_python, args=[script], env=env)
                CLIENTS[name] = await stack.enter_async_context(Client(params))
        config: DBOSConfig = {"name": "corral-bench", "system_database_url": args.db, "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()  # from this loop: DBOS runs recovered async workflows on it too
        try:
            yield
        finally:
            DBOS.destroy()


def servers_needed(args: argparse.Namespace) -> list[str]:
    """The MCP servers this application's steps call, and no other (each takes a while to start)."""
    if args.command == "crash":
        return ["recorder"]
    return ["echo", "slow"] if "W4" in args.workloads.split(",") else ["echo"]


async def timed(workflow: Callable[..., Awaitable[int]], *args: Any) -> float:
    started = time.perf_counter()
    handle = await DBOS.start_workflow_async(workflow, *args)
    await handle.get_result()
    return time.perf_counter() - started


async def in_flight(
    count: int, limit: int, workflow: Callable[..., Awaitable[int]], *args: Any
) -> dict[str, Any]:
    """Run ``count`` workflows, ``limit`` at a time (each worker starts the next when its last ends)."""
    remaining = iter(range(count))
    latencies: list[float] = []

    async def worker() -> None:
        latencies.extend([await timed(workflow, *args) for _ in remaining])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(limit)))
    total = time.perf_counter() - started
    return {"total": total, "rate": count / total, "p50": percentile(latencies, 50)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def run(args: argparse.Namespace) -> dict[str, float]:
    sizes = json.loads(args.sizes)
    wanted = set(args.workloads.split(","))
    figures: dict[str, float] = {}
    async with application(args):
        await timed(chain, 3)  # warm-up, untimed
        if "W1" in wanted:
            figures["w1_step"] = await timed(chain, sizes["chain"]) / sizes["chain"]
        if "W2" in wanted:
            figures["w2_step"] = await timed(fan_out, sizes["fan"]) / (sizes["fan"] + 1)
        if "W3" in wanted:
            w3 = await in_flight(sizes["many"], sizes["in_flight"], chain, sizes["many_steps"])
            figures.update(w3_rate=w3["rate"], w3_p50=w3["p50"])
        if "W4" in wanted:
            w4 = await in_flight(
                sizes["waits"], sizes["in_flight"], waits, sizes["wait_steps"], sizes["wait_s"]
            )
            figures["w4_total"] = w4["total"]
    return figures


async def crash(args: argparse.Namespace) -> dict[str, Any]:
    sizes = json.loads(args.sizes)
    async with application(args):
        if args.phase == "start":
            with SetWorkflowID(CRASH_WORKFLOW_ID):
                await DBOS.start_workflow_async(recorded, sizes["crash_steps"], sizes["linger_s"])
            print(json.dumps({"started": CRASH_WORKFLOW_ID}), flush=True)
            await asyncio.sleep(3600)  # until SIGKILLed
        handle = await DBOS.retrieve_workflow_async(CRASH_WORKFLOW_ID)
        await handle.get_result(polling_interval_sec=RESULT_POLL_S)
        return {"status": str((await handle.get_status()).status)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "crash"))
    parser.add_argument("--db", required=True, help="system database URL")
    parser.add_argument("--steps", choices=("noop", "mcp"), required=True)
    parser.add_argument("--sizes", required=True, help="the workload sizes, as JSON")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--phase", choices=("start", "resume"), default="start")
    parser.add_argument("--server-python", default=sys.executable, help="interpreter of the MCP servers")
    parser.add_argument(
        "--servers-dir", default=str(Path(__file__).resolve().parent.parent / "tests" / "servers")
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args) if args.command == "run" else crash(args))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
