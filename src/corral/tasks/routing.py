"""Which agent serves a task: a pure choice over a snapshot of the agents, with no I/O.

Hard filters first (node alive, server healthy, circuit closed, capacity left, the tool or
capability, project, labels, GPUs, target machines, not already tried), then a score (preferred
labels, the model loaded now), then the least loaded, then ties rotated so equal agents take turns
instead of the first one taking everything. Every refused agent comes with the reason, and the
reason says whether waiting can help (busy, down, circuit open) or not (no such tool, no GPU):
the dispatcher keeps a task queued for the first kind and fails it with the reasons for the second.
The one input from time is the injected clock, against which a node unheard of for too long is gone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.clock import Clock, SystemClock
from corral.cluster.models import Gpu
from corral.registry.models import GpuNeed

NODE_TTL_S = 2.0
"""How long a node may go unheard before routing counts it as gone (its heartbeat comes every 0.5 s)."""


@dataclass(frozen=True)
class Candidate:
    """One agent as routing sees it at this moment."""

    agent_id: str
    node: str
    server: str
    tools: frozenset[str]
    tools_known: bool = True
    """The server has listed its tools (one that is still starting has not)."""
    capabilities: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None
    node_alive: bool = True
    node_seen_at: float | None = None
    """When the node last said it is alive (the clock's monotonic seconds); None for the hub's own."""
    serving: bool = True
    """The server can take calls now (healthy or degraded)."""
    status: str = "healthy"
    circuit_closed: bool = True
    in_flight: int = 0
    max_concurrent: int = 1
    gpus: tuple[Gpu, ...] = ()
    gpu_reason: str | None = None
    loaded_models: frozenset[str] = frozenset()
    mean_latency_s: float | None = None


@dataclass(frozen=True)
class Requirement:
    """What the task needs of an agent."""

    tool: str | None = None
    """The tool's name on the agent's server, or ``server__tool`` (then only that server qualifies)."""
    capability: str | None = None
    target_machines: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    preferred_labels: Mapping[str, str] = field(default_factory=dict)
    gpu: GpuNeed | None = None
    model: str | None = None
    project: str | None = None
    exclude: frozenset[str] = frozenset()
    """Agents already tried for this task."""

    @property
    def key(self) -> str:
        """What tasks with the same needs share: the rotation of their ties."""
        return repr(
            (self.tool, self.capability, sorted(self.target_machines), sorted(self.agents), self.project)
        )


@dataclass(frozen=True)
class Refusal:
    agent_id: str
    reason: str
    transient: bool
    """Waiting may help: the agent is busy, down or its circuit is open."""


@dataclass(frozen=True)
class Ranking:
    eligible: tuple[Candidate, ...]
    """Best first."""
    refused: tuple[Refusal, ...]

    @property
    def may_wait(self) -> bool:
        """No agent takes the task now, but one might later."""
        return not self.eligible and any(refusal.transient for refusal in self.refused)

    def explain(self) -> str:
        """Why no agent takes the task, agent by agent (``gpu-box: circuit open; laptop: no GPU ...``)."""
        if not self.refused:
            return "no agent offers it"
        return "; ".join(f"{refusal.agent_id}: {refusal.reason}" for refusal in self.refused)


def offers(candidate: Candidate, requirement: Requirement) -> bool:
    """Whether the agent does what the task asks (its tool, or its capability and the tool)."""
    tool = requirement.tool
    if tool is not None:
        server, sep, name = tool.partition("__")
        if sep and server == candidate.server:
            tool = name
        if tool not in candidate.tools:
            return False
    return requirement.capability is None or requirement.capability in candidate.capabilities


def refusal(
    candidate: Candidate, requirement: Requirement, now: float = 0.0, node_ttl_s: float = math.inf
) -> Refusal | None:
    """Why this agent cannot take the task now (``now``: the clock of ``node_seen_at``); None if it can."""
    why = _lasting_reason(candidate, requirement)
    if why is not None:
        return Refusal(candidate.agent_id, why, transient=False)
    why = _passing_reason(candidate, requirement, now, node_ttl_s)
    return Refusal(candidate.agent_id, why, transient=True) if why is not None else None


def _lasting_reason(candidate: Candidate, requirement: Requirement) -> str | None:
    """What keeps the agent from ever taking the task (as long as it is configured as it is)."""
    if requirement.project is not None and candidate.project != requirement.project:
        return f"not in project {requirement.project!r}"
    if requirement.agents and candidate.agent_id not in requirement.agents:
        return "not one of the agents asked for"
    if requirement.target_machines and candidate.node not in requirement.target_machines:
        return f"on node {candidate.node!r}, not one of the target machines"
    if not offers(candidate, requirement):
        if not candidate.tools_known and requirement.tool is not None:
            return None  # it may list the tool once it is up: a passing reason
        what = requirement.capability if requirement.capability not in candidate.capabilities else None
        return f"does not offer {what!r}" if what else f"does not offer {requirement.tool!r}"
    for key, value in requirement.labels.items():
        if candidate.labels.get(key) != value:
            return f"label {key}={value} missing"
    if requirement.model is not None and requirement.model not in candidate.models:
        return f"has no model {requirement.model!r}"
    if requirement.gpu is not None and (problem := _gpu_problem(candidate, requirement.gpu)):
        return problem
    if candidate.agent_id in requirement.exclude:
        return "already tried for this task"
    return None


def _passing_reason(
    candidate: Candidate, requirement: Requirement, now: float, node_ttl_s: float
) -> str | None:
    """What keeps the agent from taking the task now, and may change: waiting can help."""
    if not candidate.tools_known and requirement.tool is not None and not offers(candidate, requirement):
        return "has not listed its tools yet"
    if not candidate.node_alive:
        return f"node {candidate.node!r} is not alive"
    if candidate.node_seen_at is not None and now - candidate.node_seen_at > node_ttl_s:
        return f"node {candidate.node!r} not heard from for {now - candidate.node_seen_at:.1f}s"
    if not candidate.serving:
        return f"server is {candidate.status}"
    if not candidate.circuit_closed:
        return "circuit open"
    if candidate.in_flight >= candidate.max_concurrent:
        return f"busy ({candidate.in_flight} of {candidate.max_concurrent} running)"
    return None


def _gpu_problem(candidate: Candidate, need: GpuNeed) -> str | None:
    fitting = [gpu for gpu in candidate.gpus if gpu.memory_free_mib >= need.min_memory_mib]
    if len(fitting) >= need.count:
        return None
    memory = f" with ≥ {need.min_memory_mib / 1024:g} GiB free" if need.min_memory_mib else ""
    if not candidate.gpus:
        why = f" ({candidate.gpu_reason})" if candidate.gpu_reason else ""
        return f"no GPU{memory}{why}"
    return f"{len(fitting)} of {need.count} GPUs{memory}"


def score(candidate: Candidate, requirement: Requirement) -> int:
    preferred = sum(
        1 for key, value in requirement.preferred_labels.items() if candidate.labels.get(key) == value
    )
    loaded = 2 if requirement.model is not None and requirement.model in candidate.loaded_models else 0
    return preferred + loaded


class Router:
    """Ranks candidates for a requirement; keeps one rotation per kind of requirement so that ties
    take turns across calls. A node not heard from for ``node_ttl_s`` on ``clock`` counts as gone."""

    def __init__(self, clock: Clock | None = None, node_ttl_s: float = NODE_TTL_S) -> None:
        self._clock = clock or SystemClock()
        self._node_ttl_s = node_ttl_s
        self._turns: dict[str, int] = {}

    def rank(self, requirement: Requirement, candidates: Iterable[Candidate]) -> Ranking:
        eligible: list[Candidate] = []
        refused: list[Refusal] = []
        now = self._clock.monotonic()
        for candidate in sorted(candidates, key=lambda item: item.agent_id):
            why = refusal(candidate, requirement, now, self._node_ttl_s)
            if why is None:
                eligible.append(candidate)
            else:
                refused.append(why)
        if not eligible:
            return Ranking((), tuple(refused))
        turn = self._turns.get(requirement.key, 0)
        self._turns[requirement.key] = turn + 1
        count = len(eligible)
        scored = bool(requirement.preferred_labels) or requirement.model is not None
        order = sorted(
            range(count),
            key=lambda index: (
                -score(eligible[index], requirement) if scored else 0,
                eligible[index].in_flight / eligible[index].max_concurrent,
                (index - turn) % count,
            ),
        )
        eligible = [eligible[index] for index in order]
        return Ranking(tuple(eligible), tuple(refused))
