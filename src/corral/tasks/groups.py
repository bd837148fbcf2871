"""Task groups: one task over several targets with a strategy, and the aggregate of their outcomes.

``parallel`` runs one task per target and settles when all have; ``race`` does too, but the first
success wins (a compare-and-set in the store) and the others are cancelled upstream — what they
answer afterwards is kept on their attempts, marked late; ``any`` is one task that routing places
and fails over; ``sequential`` runs one target after another, stopping at the first success unless
asked to run all. A group moves on when one of its tasks settles, and is looked at again after a
restart, so it never waits on a task that ended while the hub was down.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

import anyio
import anyio.abc

from corral.clock import Clock
from corral.errors import Conflict, InvalidInput, NotFound
from corral.events.bus import EventBus
from corral.tasks.dispatcher import TOPIC, TaskDispatcher, requirement
from corral.tasks.models import DistributeRequest, GroupState, Task, TaskGroup, TaskRequest, TaskState
from corral.tasks.routing import Candidate
from corral.tasks.store import GroupStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    task_id: str
    state: str
    agent: str | None
    result: Any
    error: str | None
    late_results: list[Any]
    """What attempts answered after the task was settled otherwise (a race's losers that still finished)."""


@dataclass(frozen=True)
class Aggregate:
    group_id: str
    strategy: str
    state: str
    winner: str | None
    counts: dict[str, int]
    """Tasks by state."""
    outcomes: list[TargetOutcome]
    merged: dict[str, Any]
    """The successful results that are objects, merged in target order (a later one wins a key)."""


class TaskGroups:
    def __init__(self, store: GroupStore, dispatcher: TaskDispatcher, bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._bus = bus
        self._clock = clock
        self._lock = anyio.Lock()
        dispatcher.on_settled = self.task_settled

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Look again at the groups a previous process left running, then wait."""
        for group in await self._store.running():
            await self._advance(group)
        task_status.started()
        await anyio.sleep_forever()

    async def distribute(self, request: DistributeRequest, *, actor: str) -> TaskGroup:
        """Make the group and start its tasks.

        Raises: InvalidInput — an empty or unknown target, or a task no agent could run.
        """
        self._dispatcher.check_routable(request.task)
        targets = self._targets(request)
        group = TaskGroup(
            id="tg_" + uuid.uuid4().hex[:20],
            request=request,
            targets=targets,
            state=GroupState.RUNNING,
            created_at=self._clock.now(),
            actor=actor,
        )
        await self._store.add(group)
        self._bus.publish(
            TOPIC, "group.created", group.id, {"strategy": request.execution_strategy, "targets": targets}
        )
        if request.execution_strategy == "any":
            await self._dispatcher.submit(self._among(request), actor=actor, group_id=group.id, target="any")
            return group
        first = targets[:1] if request.execution_strategy == "sequential" else targets
        for target in first:
            await self._start(group, target)
        return group

    async def get(self, group_id: str) -> TaskGroup:
        """Raises: NotFound."""
        group = await self._store.get(group_id)
        if group is None:
            raise NotFound(f"no task group {group_id!r}")
        return group

    async def cancel(self, group_id: str, *, actor: str) -> TaskGroup:
        """Cancel every unfinished task of the group, then the group.

        Raises: NotFound; Conflict when the group has finished.
        """
        group = await self.get(group_id)
        if group.state.finished:
            raise Conflict(f"task group {group_id} has already finished ({group.state.value})")
        await self._store.finish(group_id, GroupState.CANCELLED, self._clock.now())
        for task in await self._dispatcher.store.of_group(group_id):
            if not task.state.finished:
                await self._cancel_quietly(task, actor)
        self._bus.publish(TOPIC, "group.finished", group_id, {"state": GroupState.CANCELLED.value})
        return await self.get(group_id)

    async def aggregate(self, group_id: str) -> Aggregate:
        """Raises: NotFound."""
        group = await self.get(group_id)
        tasks = await self._dispatcher.store.of_group(group_id)
        counts: dict[str, int] = {}
        merged: dict[str, Any] = {}
        outcomes = []
        for task in tasks:
            counts[task.state.value] = counts.get(task.state.value, 0) + 1
            if task.state is TaskState.COMPLETED and isinstance(task.result, dict):
                merged.update(task.result)
            outcomes.append(
                TargetOutcome(
                    target=task.target or "",
                    task_id=task.id,
                    state=task.state.value,
                    agent=task.agent,
                    result=task.result,
                    error=task.error,
                    late_results=[attempt.result for attempt in task.attempts if attempt.late],
                )
            )
        return Aggregate(
            group.id,
            group.request.execution_strategy,
            group.state.value,
            group.winner,
            counts,
            outcomes,
            merged,
        )

    async def task_settled(self, task: Task) -> None:
        """One of a group's tasks ended: a race may have its winner, a sequence its next step, the
        group its end."""
        assert task.group_id is not None
        group = await self._store.get(task.group_id)
        if group is None or group.state.finished:
            return
        await self._advance(group)

    async def _advance(self, group: TaskGroup) -> None:
        losers: list[Task] = []
        async with self._lock:  # one decision at a time; the cancels it leads to come after it
            tasks = await self._dispatcher.store.of_group(group.id)
            strategy = group.request.execution_strategy
            succeeded = [task for task in tasks if task.state is TaskState.COMPLETED]
            if strategy == "race" and succeeded and group.winner is None:
                winner = succeeded[0]
                if await self._store.crown(group.id, winner.id):
                    group.winner = winner.id
                    data = {"task": winner.id, "agent": winner.agent}
                    self._bus.publish(TOPIC, "group.winner", group.id, data)
                    losers = [task for task in tasks if not task.state.finished]
            if not losers:
                await self._settle(group, tasks, succeeded)
        for task in losers:
            await self._cancel_quietly(task, f"race won by {group.winner}")

    async def _settle(self, group: TaskGroup, tasks: list[Task], succeeded: list[Task]) -> None:
        """Start a sequence's next task, or finish the group once all its tasks have."""
        if not tasks or not all(task.state.finished for task in tasks):
            return
        strategy = group.request.execution_strategy
        if strategy == "sequential" and len(tasks) < len(group.targets):
            if not (group.request.stop_on_success and succeeded):
                await self._start(group, group.targets[len(tasks)])
                return
        state = _final_state(strategy, tasks, group.request.stop_on_success)
        if await self._store.finish(group.id, state, self._clock.now()):
            counts = {
                item.value: sum(task.state is item for task in tasks) for item in TaskState if item.finished
            }
            self._bus.publish(TOPIC, "group.finished", group.id, {"state": state.value, "counts": counts})

    async def _start(self, group: TaskGroup, target: str) -> None:
        request = self._pinned(group.request.task, target)
        await self._dispatcher.submit(request, actor=group.actor, group_id=group.id, target=target)

    async def _cancel_quietly(self, task: Task, actor: str) -> None:
        try:
            await self._dispatcher.cancel(task.id, actor=actor)
        except Conflict:
            pass  # it ended meanwhile

    def _targets(self, request: DistributeRequest) -> list[str]:
        """Raises: InvalidInput."""
        if request.targets is not None:
            if not request.targets:
                raise InvalidInput(
                    "targets is empty: name at least one agent or node, or leave it out to use every agent "
                    "that could run the task"
                )
            for target in request.targets:
                self._pinned(request.task, target)
            return list(dict.fromkeys(request.targets))
        candidates = self._dispatcher.agents.candidates()
        ranking = self._dispatcher.router.rank(requirement(request.task), _all_free(candidates))
        return [candidate.agent_id for candidate in ranking.eligible]

    def _among(self, request: DistributeRequest) -> TaskRequest:
        """For ``any``: the one task, limited to the targets (agents, or nodes) when they are named."""
        if request.targets is None:
            return request.task
        pinned = [self._pinned(request.task, target) for target in request.targets]
        agents = tuple(item.agents[0] for item in pinned if item.agents)
        if agents and len(agents) != len(pinned):
            raise InvalidInput("for 'any', name agents or nodes as targets, not both")
        if agents:
            return request.task.model_copy(update={"agents": agents})
        return request.task.model_copy(update={"target_machines": tuple(request.targets)})

    def _pinned(self, task: TaskRequest, target: str) -> TaskRequest:
        """The task as it runs on one target: an agent's server named in its tool, or a node.

        Raises: InvalidInput — no agent or node of that name.
        """
        agents = self._dispatcher.agents
        candidates = {candidate.agent_id: candidate for candidate in agents.candidates()}
        by_server = {candidate.server: candidate for candidate in candidates.values()}
        agent = candidates.get(target) or by_server.get(target)
        if agent is not None:
            assert task.tool is not None
            name = task.tool.partition("__")[2] or task.tool
            return task.model_copy(update={"tool": f"{agent.server}__{name}", "agents": (agent.agent_id,)})
        nodes = {candidate.node for candidate in candidates.values()}
        if target in nodes:
            return task.model_copy(update={"target_machines": (target,)})
        raise InvalidInput(
            f"unknown target {target!r}; agents: {', '.join(sorted(candidates)) or 'none'}; "
            f"nodes: {', '.join(sorted(nodes)) or 'none'}"
        )


def _all_free(candidates: list[Candidate]) -> list[Candidate]:
    """The agents as if each were up and idle: which could run a task at all, whatever their load now."""
    return [
        replace(candidate, node_alive=True, serving=True, circuit_closed=True, in_flight=0, tools_known=True)
        for candidate in candidates
    ]


def _final_state(strategy: str, tasks: list[Task], stop_on_success: bool) -> GroupState:
    succeeded = sum(task.state is TaskState.COMPLETED for task in tasks)
    if succeeded == 0:
        return GroupState.FAILED
    if strategy in ("race", "any") or (strategy == "sequential" and stop_on_success):
        return GroupState.COMPLETED
    return GroupState.COMPLETED if succeeded == len(tasks) else GroupState.PARTIAL
