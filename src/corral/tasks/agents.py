"""Agents: servers with an ``agent:`` section, each known as ``<node>/<server>``, and their live load.

The directory reads the supervisor (status, circuit, tools) and the node (liveness, GPUs, models)
at the moment routing asks, and keeps what only task dispatch knows: the slots held per agent (a
slot is reserved before a task is sent, so ``max_concurrent`` is never exceeded), how many queued
tasks wait for it, and its completed and failed counts and mean latency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from corral.cluster.models import NodeInfo
from corral.errors import NotFound
from corral.registry.models import AgentSpec
from corral.supervisor.breaker import CircuitState
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor
from corral.tasks.routing import Candidate


@dataclass
class AgentLoad:
    in_flight: int = 0
    waiting: int = 0
    """Queued tasks this agent could run and that wait (for it or for another)."""
    completed: int = 0
    failed: int = 0
    total_s: float = 0.0

    @property
    def mean_latency_s(self) -> float | None:
        finished = self.completed + self.failed
        return self.total_s / finished if finished else None


@dataclass(frozen=True)
class AgentView:
    """An agent and its live state, as the API, MCP tools and the dashboard show it."""

    id: str
    node: str
    server: str
    spec: AgentSpec
    status: str
    circuit_state: str
    tools: tuple[str, ...]
    in_flight: int
    queued: int
    completed: int
    failed: int
    mean_latency_ms: float | None
    node_alive: bool


@dataclass
class AgentDirectory:
    supervisor: Supervisor
    local_node: Callable[[], NodeInfo]
    """The node the hub's own servers run on (the built-in node)."""
    remote_node: Callable[[str], NodeInfo] | None = None
    """The node of that name among the hub's other nodes (scale-out); raises NotFound."""
    _loads: dict[str, AgentLoad] = field(default_factory=dict)

    def server_of(self, agent_id: str) -> str:
        """The server behind an agent id (or a bare server name).

        Raises: NotFound.
        """
        node, sep, server = agent_id.rpartition("/")
        runner = None
        if not sep or node == self.local_node().name:
            runner = self._agent_runner(server)
        else:
            # A server on another node is held under ``<node>.<server>`` (cluster/remote.py).
            runner = self._agent_runner(f"{node}.{server}")
            if runner is not None and runner.node != node:
                runner = None
        if runner is None:
            raise NotFound(f"no agent {agent_id!r}")
        return runner.spec.name

    def candidates(self) -> list[Candidate]:
        return [self._candidate(self._node_of(runner), runner, spec) for runner, spec in self._agents()]

    def views(self) -> list[AgentView]:
        return [self._view(self._node_of(runner), runner, spec) for runner, spec in self._agents()]

    def view(self, agent_id: str) -> AgentView:
        """Raises: NotFound."""
        server = self.server_of(agent_id)
        runner = self.supervisor.runner(server)
        assert runner.spec.agent is not None
        return self._view(self._node_of(runner), runner, runner.spec.agent)

    def _node_of(self, runner: ServerRunner) -> NodeInfo:
        if runner.node is None or self.remote_node is None:
            return self.local_node()
        return self.remote_node(runner.node)

    def load(self, agent_id: str) -> AgentLoad:
        return self._loads.setdefault(agent_id, AgentLoad())

    def reserve(self, agent_id: str) -> None:
        self.load(agent_id).in_flight += 1

    def release(self, agent_id: str, *, ok: bool | None, seconds: float) -> None:
        """Free the slot; count the outcome (``ok`` None: the call was cancelled, not counted)."""
        load = self.load(agent_id)
        load.in_flight -= 1
        if ok is None:
            return
        load.total_s += seconds
        if ok:
            load.completed += 1
        else:
            load.failed += 1

    def set_waiting(self, waiting: dict[str, int]) -> None:
        for agent_id, load in self._loads.items():
            load.waiting = waiting.get(agent_id, 0)
        for agent_id, count in waiting.items():
            self.load(agent_id).waiting = count

    def _agents(self) -> list[tuple[ServerRunner, AgentSpec]]:
        return [(runner, runner.spec.agent) for runner in self.supervisor.runners() if runner.spec.agent]

    def _agent_runner(self, server: str) -> ServerRunner | None:
        try:
            runner = self.supervisor.runner(server)
        except NotFound:
            return None
        return runner if runner.spec.agent is not None else None

    def _candidate(self, node: NodeInfo, runner: ServerRunner, spec: AgentSpec) -> Candidate:
        agent_id = _agent_id(node, runner)
        state = runner.state
        inventory = node.inventory
        return Candidate(
            agent_id=agent_id,
            node=node.name,
            server=runner.spec.name,
            tools=frozenset(tool.name for tool in state.catalog.tools),
            tools_known=bool(state.digests),
            capabilities=frozenset(spec.capabilities) | frozenset(runner.spec.capabilities),
            models=frozenset(spec.models),
            labels={**node.labels, **spec.labels},
            project=runner.spec.project,
            node_alive=node.alive,
            serving=runner.spec.enabled and (state.status.serving or runner.idle),
            status=state.status.value,
            circuit_closed=state.circuit_state is not CircuitState.OPEN,
            in_flight=self.load(agent_id).in_flight,
            max_concurrent=spec.max_concurrent,
            gpus=inventory.gpus.gpus if inventory else (),
            gpu_reason=inventory.gpus.reason if inventory else "no inventory yet",
            loaded_models=frozenset(
                model.name for model in (inventory.models if inventory else ()) if model.loaded
            ),
            mean_latency_s=self.load(agent_id).mean_latency_s,
        )

    def _view(self, node: NodeInfo, runner: ServerRunner, spec: AgentSpec) -> AgentView:
        agent_id = _agent_id(node, runner)
        load = self.load(agent_id)
        latency = load.mean_latency_s
        return AgentView(
            id=agent_id,
            node=node.name,
            server=runner.spec.name,
            spec=spec,
            status=runner.state.status.value,
            circuit_state=runner.state.circuit_state.value,
            tools=tuple(sorted(tool.name for tool in runner.state.catalog.tools)),
            in_flight=load.in_flight,
            queued=load.waiting,
            completed=load.completed,
            failed=load.failed,
            mean_latency_ms=round(latency * 1000, 3) if latency is not None else None,
            node_alive=node.alive,
        )


def _agent_id(node: NodeInfo, runner: ServerRunner) -> str:
    """``<node>/<server>``, with the server's name on its own node."""
    server = runner.spec.name.removeprefix(f"{runner.node}.") if runner.node else runner.spec.name
    return f"{node.name}/{server}"
