"""The hub's Prometheus metrics: one registry per hub, its figures read from the components at each scrape.

What is true *now* (each server's status and circuit, its restarts, stream clients, the event log's
backlog, executions by status) is read by collectors when Prometheus scrapes, so no second copy of it
is kept in sync. Tool calls are ``CallMetrics``' own counts (its ``record`` is the one place a call is
counted, from the gateway, REST and workflow steps alike); step durations are observed when a step
finishes. The registry belongs to the hub, not to prometheus_client's global default, so hubs in one
process (tests) never share figures. Who may scrape is the route's business (``corral.api.metrics``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from itertools import accumulate
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from corral import __version__
from corral.calls.metrics import LATENCY_BUCKETS_S, CallMetrics
from corral.cluster.models import NodeInfo
from corral.events.bus import EventBus
from corral.events.log import EventLog, ResumeWindow
from corral.retention.pruner import Pruner
from corral.supervisor.breaker import CircuitState
from corral.supervisor.state import ServerStatus
from corral.supervisor.supervisor import Supervisor
from corral.tasks.dispatcher import TaskDispatcher
from corral.workflow.store import StepRun

logger = logging.getLogger(__name__)

STEP_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
STORE_TIMEOUT_S = 5.0
MIB = 1024 * 1024

StoreCounts = Callable[[], Awaitable[Mapping[Any, int]]]


class HubMetrics:
    """Made first (the workflow engine reports steps to it), then told what to read with ``watch``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for standard in (ProcessCollector, PlatformCollector, GCCollector):
            standard(registry=self.registry)
        Info("corral", "The hub's version.", registry=self.registry).info({"version": __version__})
        self._steps = Histogram(
            "corral_workflow_step_duration_seconds",
            "How long workflow steps took, from the start of their first attempt to their end "
            "(a for_each step as a whole), by workflow, step and how it ended (completed, failed).",
            ["workflow", "step", "status"],
            buckets=STEP_BUCKETS_S,
            registry=self.registry,
        )
        self._counted: list[_StoreCounts] = []

    def step_finished(self, workflow_id: str, run: StepRun) -> None:
        """Observe a step that completed or failed (the engine's ``step_finished``)."""
        if run.duration_s is not None:
            self._steps.labels(workflow_id, run.step_id, run.status.value).observe(run.duration_s)

    def watch(
        self,
        *,
        calls: CallMetrics,
        supervisor: Supervisor,
        bus: EventBus,
        event_log: EventLog,
        executions: StoreCounts,
        dispatcher: TaskDispatcher | None = None,
    ) -> None:
        """Read these components at each scrape."""
        self.registry.register(_ToolCalls(calls))
        self.registry.register(_Servers(supervisor))
        self.registry.register(_EventFlow(bus, event_log))
        self._counted = [
            _StoreCounts(
                "corral_workflow_executions",
                "Workflow executions in the store by status.",
                "status",
                executions,
            )
        ]
        if dispatcher is not None:
            self.registry.register(_Dispatch(dispatcher))
            self._counted.append(
                _StoreCounts("corral_tasks", "Tasks in the store by state.", "state", dispatcher.store.counts)
            )
        for counted in self._counted:
            self.registry.register(counted)

    def watch_retention(self, pruner: Pruner) -> None:
        """Read what retention pruned at each scrape."""
        self.registry.register(_Retention(pruner))

    def watch_nodes(self, nodes: Callable[[], Iterable[NodeInfo]]) -> None:
        """Read the nodes' inventories at each scrape."""
        self.registry.register(_Nodes(nodes))

    async def scrape(self, accept: str | None = None) -> tuple[bytes, str]:
        """Every metric, in the format ``accept`` asks for (Prometheus text by default, or OpenMetrics),
        with its content type."""
        for counted in self._counted:
            await counted.refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


class _ToolCalls:
    def __init__(self, calls: CallMetrics) -> None:
        self._calls = calls

    def collect(self) -> Iterable[Metric]:
        counts = CounterMetricFamily(
            "corral_tool_calls",
            "Tool calls through the hub (MCP, REST and workflow steps) by server, tool and outcome: ok, "
            "tool_error (the tool answered with isError) or the code of the error the caller got.",
            labels=["server", "tool", "outcome"],
        )
        latency = HistogramMetricFamily(
            "corral_tool_call_duration_seconds",
            "How long tool calls took as the hub saw them (routing and argument checks included), "
            "by server and tool.",
            labels=["server", "tool"],
        )
        for server, tool, stats in self._calls.items():
            for outcome, count in sorted(stats.outcomes.items()):
                counts.add_metric([server, tool, outcome], count)
            latency.add_metric([server, tool], _buckets(stats.in_bucket), stats.total_s)
        return [counts, latency]


def _buckets(in_bucket: list[int]) -> list[tuple[str, float]]:
    """Prometheus' cumulative buckets from counts per latency bucket (``LATENCY_BUCKETS_S`` and +Inf)."""
    cumulative = list(accumulate(in_bucket))
    buckets = [
        (str(bound), float(count)) for bound, count in zip(LATENCY_BUCKETS_S, cumulative[:-1], strict=True)
    ]
    return [*buckets, ("+Inf", float(cumulative[-1]))]


class _Servers:
    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> Iterable[Metric]:
        status = GaugeMetricFamily(
            "corral_server_status",
            "1 for the status each server is in now, 0 for every other status.",
            labels=["server", "status"],
        )
        circuit = GaugeMetricFamily(
            "corral_server_circuit_state",
            "1 for the state each server's circuit breaker is in now (closed, open, half_open), "
            "0 for the others.",
            labels=["server", "state"],
        )
        restarts = CounterMetricFamily(
            "corral_server_restarts",
            "Times each server was started again after it had run or tried to (a crash, a failed start, "
            "a restart asked for), since the hub began supervising it.",
            labels=["server"],
        )
        failures = GaugeMetricFamily(
            "corral_server_consecutive_failures",
            "Failures in a row each server's circuit breaker has counted.",
            labels=["server"],
        )
        in_flight = GaugeMetricFamily(
            "corral_server_calls_in_flight", "Requests each server is answering now.", labels=["server"]
        )
        for runner in self._supervisor.runners():
            state = runner.state
            for each in ServerStatus:
                status.add_metric([state.name, each.value], float(state.status is each))
            for breaker in CircuitState:
                circuit.add_metric([state.name, breaker.value], float(state.circuit_state is breaker))
            restarts.add_metric([state.name], state.restarts)
            failures.add_metric([state.name], state.consecutive_failures)
            in_flight.add_metric([state.name], state.calls_in_flight)
        return [status, circuit, restarts, failures, in_flight]


class _Nodes:
    def __init__(self, nodes: Callable[[], Iterable[NodeInfo]]) -> None:
        self._nodes = nodes

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "corral_node_info",
            "1 for each node the hub knows, with its boot id and whether it is the hub's built-in node.",
            labels=["node", "boot_id", "builtin"],
        )
        alive = GaugeMetricFamily(
            "corral_node_alive", "1 while a node is alive, 0 once lost.", labels=["node"]
        )
        cpus = GaugeMetricFamily("corral_node_cpus", "CPUs each node may use.", labels=["node"])
        memory = GaugeMetricFamily(
            "corral_node_memory_bytes",
            "Each node's memory (within its cgroup limit), total and available now.",
            labels=["node", "kind"],
        )
        gpus = GaugeMetricFamily("corral_node_gpus", "NVIDIA GPUs each node has.", labels=["node"])
        gpu_free = GaugeMetricFamily(
            "corral_node_gpu_memory_free_bytes",
            "Free memory of each GPU at the node's last inventory.",
            labels=["node", "gpu", "name"],
        )
        models = GaugeMetricFamily(
            "corral_node_local_models",
            "Models each node's local model servers serve, loaded in memory now or not.",
            labels=["node", "loaded"],
        )
        for node in self._nodes():
            info.add_metric([node.name, node.boot_id, str(node.builtin).lower()], 1.0)
            alive.add_metric([node.name], float(node.alive))
            inventory = node.inventory
            if inventory is None:
                continue
            cpus.add_metric([node.name], inventory.cpus)
            for kind, mib in (
                ("total", inventory.memory_total_mib),
                ("available", inventory.memory_available_mib),
            ):
                if mib is not None:
                    memory.add_metric([node.name, kind], mib * MIB)
            gpus.add_metric([node.name], len(inventory.gpus.gpus))
            for gpu in inventory.gpus.gpus:
                gpu_free.add_metric([node.name, str(gpu.index), gpu.name], gpu.memory_free_mib * MIB)
            loaded = sum(model.loaded for model in inventory.models)
            models.add_metric([node.name, "true"], loaded)
            models.add_metric([node.name, "false"], len(inventory.models) - loaded)
        return [info, alive, cpus, memory, gpus, gpu_free, models]


class _EventFlow:
    def __init__(self, bus: EventBus, log: EventLog) -> None:
        self._bus = bus
        self._log = log

    def collect(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(
                "corral_event_stream_clients",
                "WebSocket clients following /ws/events now.",
                value=self._log.followers,
            ),
            GaugeMetricFamily(
                "corral_event_log_lag_events",
                "Events published in the hub that the event log has not stored yet, and so not yet sent "
                "to stream clients (its writer's backlog). Dropped events count until a later one is stored.",
                value=max(0, self._bus.last_id - self._log.stored_id),
            ),
            CounterMetricFamily(
                "corral_event_log_dropped_events",
                "Events dropped because the event log's write queue was full.",
                value=self._log.dropped,
            ),
            CounterMetricFamily(
                "corral_event_stream_slow_cutoffs",
                "Stream clients cut off because they did not read their events fast enough.",
                value=self._log.slow_cut_offs,
            ),
            *_resume_window(self._log.resume_window()),
        ]


def _resume_window(window: ResumeWindow) -> list[Metric]:
    return [
        GaugeMetricFamily(
            "corral_event_log_oldest_id",
            "The oldest event the store keeps: a client can resume after the one before it (0: none).",
            value=window.oldest_id or 0,
        ),
        GaugeMetricFamily(
            "corral_event_log_resume_window_seconds",
            "How far back a stream client can resume: the age of the oldest stored event.",
            value=window.age_s,
        ),
    ]


class _Retention:
    def __init__(self, pruner: Pruner) -> None:
        self._pruner = pruner

    def collect(self) -> Iterable[Metric]:
        deleted = CounterMetricFamily(
            "corral_retention_deleted_rows",
            "Rows retention pruned since the hub started, by kind of record.",
            labels=["kind"],
        )
        archived = CounterMetricFamily(
            "corral_retention_archived_rows",
            "Audit entries archived before they were pruned since the hub started.",
            value=self._pruner.status["audit"].archived,
        )
        failed = GaugeMetricFamily(
            "corral_retention_failing",
            "1 when the last retention pass over a kind of record stopped on an error.",
            labels=["kind"],
        )
        for kind, status in self._pruner.status.items():
            deleted.add_metric([kind], status.deleted)
            failed.add_metric([kind], 1 if status.last_error else 0)
        return [deleted, archived, failed]


class _StoreCounts:
    """Counted in the store, which ``collect`` (called synchronously) cannot ask: ``refresh`` first."""

    def __init__(self, name: str, documentation: str, label: str, count: StoreCounts) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._count = count
        self._counts: Mapping[str, int] | None = None

    async def refresh(self) -> None:
        # Shielded: a query cancelled half-way (the scraper hung up) would leave its pooled connection
        # to a clean-up task of SQLAlchemy's own.
        try:
            with anyio.CancelScope(shield=True), anyio.fail_after(STORE_TIMEOUT_S):
                self._counts = {str(key): count for key, count in (await self._count()).items()}
        except (SQLAlchemyError, TimeoutError):
            logger.warning("could not count %s for /metrics", self._name, exc_info=True)
            self._counts = None

    def collect(self) -> Iterable[Metric]:
        if self._counts is None:  # the scrape goes on without them
            return []
        family = GaugeMetricFamily(self._name, self._documentation, labels=[self._label])
        for key, count in self._counts.items():
            family.add_metric([key], count)
        return [family]


class _Dispatch:
    def __init__(self, dispatcher: TaskDispatcher) -> None:
        self._dispatcher = dispatcher

    def collect(self) -> Iterable[Metric]:
        stats = self._dispatcher.stats
        decisions = CounterMetricFamily(
            "corral_task_routing_decisions",
            "Routing decisions for queued tasks by outcome: dispatched (an agent took it), waiting (none can "
            "now), refused (none ever could; the task failed).",
            labels=["outcome"],
        )
        for outcome, count in sorted(stats.decisions.items()):
            decisions.add_metric([outcome], count)
        wait = HistogramMetricFamily(
            "corral_task_queue_wait_seconds", "How long tasks waited in the queue before an agent took them."
        )
        wait.add_metric([], _buckets(stats.wait_in_bucket), stats.wait_total_s)
        in_flight = GaugeMetricFamily(
            "corral_agent_tasks_in_flight", "Tasks each agent runs now (slots held).", labels=["agent"]
        )
        for view in self._dispatcher.agents.views():
            in_flight.add_metric([view.id], view.in_flight)
        depth = GaugeMetricFamily(
            "corral_task_queue_depth",
            "Tasks waiting for an agent at the dispatcher's last pass.",
            value=stats.queue_depth,
        )
        return [decisions, wait, in_flight, depth]
