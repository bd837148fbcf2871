"""Sends queued tasks to agents and records what comes back: the embedded dispatcher.

A pass takes the queued tasks from the store (highest priority, then oldest), ranks the agents for
each (``routing.py``), reserves a slot on the best one and records the attempt before the call
starts; the call takes the hub's one call path as any other. A task no agent can take now stays
queued, and the next pass — woken by a freed slot, a new task or a server's change, or every
``RESCAN_S`` at the latest — tries again. A failure that the task's retry policy allows sends it
back to the queue, where routing prefers an agent not tried yet.

After a restart, a task the last process left in flight runs again when its tool is read-only or
idempotent; any other follows its ``on_uncertain`` (held for a decision by default), as a
workflow step does.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

import anyio
import anyio.abc
import mcp_types as types

from corral.calls.failures import failure_kind
from corral.calls.path import Caller, CallPath
from corral.calls.results import error_text, tool_result_value
from corral.clock import Clock
from corral.errors import Conflict, CorralError, InvalidInput, NotFound
from corral.events.bus import EventBus
from corral.observability import logcontext
from corral.tasks.agents import AgentDirectory
from corral.tasks.models import AttemptState, Task, TaskRequest, TaskState
from corral.tasks.routing import Candidate, Ranking, Requirement, Router, offers
from corral.tasks.stats import DispatchStats
from corral.tasks.store import TaskStore

logger = logging.getLogger(__name__)

RESCAN_S = 1.0
"""The longest a queued task waits before routing looks at it again, whatever woke the dispatcher."""
BATCH = 500
"""Queued tasks routed in one pass."""
RECOVERY_WAIT_S = 30.0
"""How long recovery waits for a server to list its tools, to read a tool's annotations."""
IDEMPOTENCY_KEY = "io.corral/idempotency-key"
SOURCE = "task"
TOPIC = "tasks"


def requirement(request: TaskRequest, tried: Iterable[str] = ()) -> Requirement:
    return Requirement(
        tool=request.tool,
        capability=request.capability,
        target_machines=frozenset(request.target_machines),
        agents=frozenset(request.agents),
        labels=request.labels,
        preferred_labels=request.preferred_labels,
        gpu=request.gpu,
        model=request.model,
        project=request.project,
        exclude=frozenset(tried),
    )


def tool_on(candidate: Candidate, request: TaskRequest) -> str:
    """The name of the task's tool on the agent's server."""
    assert request.tool is not None
    server, sep, name = request.tool.partition("__")
    return name if sep and server == candidate.server else request.tool


class ProjectDirectory(Protocol):
    async def exists(self, name: str) -> bool: ...


class TaskDispatcher:
    def __init__(
        self,
        store: TaskStore,
        path: CallPath,
        agents: AgentDirectory,
        bus: EventBus,
        clock: Clock,
        router: Router | None = None,
    ) -> None:
        self.store = store
        self.agents = agents
        self._path = path
        self._bus = bus
        self._clock = clock
        self.router = router or Router(clock)
        self._wake = anyio.Event()
        self._running: dict[str, anyio.CancelScope] = {}
        self.stats = DispatchStats()
        self._waiters: dict[str, anyio.Event] = {}
        self.projects: ProjectDirectory | None = None
        """Checks that a task's project exists (set once the hub has projects)."""
        self.on_settled: Callable[[Task], Awaitable[None]] | None = None
        """Called when a task of a group has reached its end (completed, failed or cancelled)."""
        self._tg: anyio.abc.TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg, self._bus.subscribe() as events:
            self._tg = tg
            for task in await self.store.in_flight():
                tg.start_soon(self._recover, task, name=f"recover task {task.id}")
            tg.start_soon(self._dispatch_loop, name="task dispatch")
            task_status.started()
            async for event in events:
                if event.topic == "servers":
                    self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- asking ----------------------------------------------------------------------------------

    async def submit(
        self, request: TaskRequest, *, actor: str, group_id: str | None = None, target: str | None = None
    ) -> Task:
        """Store the task and wake the dispatcher.

        Raises: InvalidInput — no agent could ever run the task (the message says why, per agent,
        or lists what the agents offer), or its project does not exist.
        """
        if (
            request.project is not None
            and self.projects is not None
            and not await self.projects.exists(request.project)
        ):
            raise InvalidInput(f"unknown project {request.project!r}")
        self.check_routable(request)
        task = Task(
            id="tk_" + uuid.uuid4().hex[:20],
            request=request,
            state=TaskState.QUEUED,
            created_at=self._clock.now(),
            actor=actor,
            group_id=group_id,
            target=target,
        )
        await self.store.add(task)
        self._publish("task.queued", task, {"priority": request.priority})
        self.wake()
        return task

    def check_routable(self, request: TaskRequest) -> None:
        """Raises: InvalidInput — unknown tool or capability (listing what exists), or no agent that
        could ever take the task, with the reason for each."""
        candidates = self.agents.candidates()
        wanted = Requirement(tool=request.tool, capability=request.capability, project=request.project)
        if not any(_may_offer(candidate, wanted) for candidate in candidates):
            raise InvalidInput(_unknown(request, candidates))
        ranking = self.router.rank(requirement(request), candidates)
        if not ranking.eligible and not ranking.may_wait:
            raise InvalidInput(f"no agent can run this task: {ranking.explain()}")

    async def cancel(self, task_id: str, *, actor: str) -> Task:
        """Cancel a task that has not finished; a running call is cancelled upstream.

        Raises: NotFound; Conflict when the task has finished already.
        """
        before = await self.store.cancel(task_id, self._clock.now(), f"cancelled by {actor}")
        if before is None:
            task = await self.get(task_id)
            raise Conflict(f"task {task_id} has already finished ({task.state.value})")
        task = await self.get(task_id)
        if (scope := self._running.get(task_id)) is not None:
            # Cancelled after the read and told at once (no wait between): the call's slot, which its
            # end frees for the next task, is never given away before the stream hears of the cancel.
            scope.cancel()
        await self._settled("task.cancelled", task, {"by": actor})
        return task

    async def decide(self, task_id: str, action: str, *, actor: str) -> Task:
        """Settle a held task: ``retry`` runs it again, ``fail`` fails it.

        Raises: NotFound; Conflict when the task is not held; InvalidInput for another action.
        """
        if action not in ("retry", "fail"):
            raise InvalidInput(f"action must be 'retry' or 'fail', not {action!r}")
        task = await self.get(task_id)
        now = self._clock.now()
        if action == "retry":
            moved = await self.store.move(
                task.id, task.attempt, TaskState.QUEUED, now, from_states=[TaskState.HELD]
            )
        else:
            moved = await self.store.move(
                task.id, task.attempt, TaskState.FAILED, now, from_states=[TaskState.HELD],
                is_error=True, error=f"failed by {actor}: it was in flight when the hub stopped",
            )  # fmt: skip
        if not moved:
            raise Conflict(f"task {task_id} is {task.state.value}, not held")
        task = await self.get(task_id)
        if action == "retry":
            self._publish("task.queued", task, {"decided_by": actor})
            self.wake()
        else:
            await self._settled("task.failed", task, {"decided_by": actor})
        return task

    async def settled(self, task_id: str) -> Task:
        """Wait until the task has ended (completed, failed or cancelled) and return it.

        Raises: NotFound.
        """
        while True:
            waiter = self._waiters.setdefault(task_id, anyio.Event())
            task = await self.get(task_id)
            if task.state.finished:
                return task
            with anyio.move_on_after(RESCAN_S * 5):  # a safety net: the store is the record
                await waiter.wait()

    async def get(self, task_id: str) -> Task:
        """Raises: NotFound."""
        task = await self.store.get(task_id)
        if task is None:
            raise NotFound(f"no task {task_id!r}")
        return task

    # -- dispatching -----------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            await self._dispatch_queued()
            # An empty queue has nothing to look at again until something is submitted or requeued.
            with anyio.move_on_after(RESCAN_S if self.stats.queue_depth else math.inf):
                await self._wake.wait()

    async def _dispatch_queued(self) -> None:
        queued = await self.store.queued(BATCH)
        self.stats.queue_depth = len(queued)
        if not queued:
            self.agents.set_waiting({})
            return
        candidates = {candidate.agent_id: candidate for candidate in self.agents.candidates()}
        waiting: dict[str, int] = {}
        # When no agent can take a task now, none can take another that needs the same: rank once.
        stuck: dict[tuple[str, tuple[str, ...]], Ranking] = {}
        for task in queued:
            kind = (requirement(task.request).key, tuple(task.tried))
            ranking = stuck.get(kind) or self._rank(task, list(candidates.values()))
            if ranking.eligible:
                self.stats.decisions["dispatched"] += 1
                chosen = ranking.eligible[0]
                if await self._dispatch(task, chosen):
                    candidates[chosen.agent_id] = self._candidate_after_reserve(chosen)
                    waited = (self._clock.now() - (task.updated_at or task.created_at)).total_seconds()
                    self.stats.waited(max(0.0, waited))
            elif ranking.may_wait:
                stuck[kind] = ranking
                self.stats.decisions["waiting"] += 1
                for refusal in ranking.refused:
                    if refusal.transient:
                        waiting[refusal.agent_id] = waiting.get(refusal.agent_id, 0) + 1
            else:
                self.stats.decisions["refused"] += 1
                await self._finish_failed(task, f"no agent can run this task: {ranking.explain()}")
        self.agents.set_waiting(waiting)

    def _rank(self, task: Task, candidates: list[Candidate]) -> Ranking:
        ranking = self.router.rank(requirement(task.request, task.tried), candidates)
        if not ranking.eligible and task.tried:
            # Every other agent is out of the question: the ones tried before may take it again.
            again = self.router.rank(requirement(task.request), candidates)
            if again.eligible or again.may_wait:
                return again
        return ranking

    def _candidate_after_reserve(self, chosen: Candidate) -> Candidate:
        load = self.agents.load(chosen.agent_id)
        return replace(chosen, in_flight=load.in_flight)

    async def _dispatch(self, task: Task, chosen: Candidate) -> bool:
        """Reserve the agent's slot, record the attempt as running (the call starts in this process at
        once: one write, where a remote node's work is ``dispatched`` first), and start the call."""
        self.agents.reserve(chosen.agent_id)
        if not await self.store.dispatch(task, chosen.agent_id, self._clock.now(), TaskState.RUNNING):
            self.agents.release(chosen.agent_id, ok=None, seconds=0.0)
            return False
        data = {"agent": chosen.agent_id, "attempt": task.attempt}
        self._publish("task.assigned", task, data)
        self._publish("task.started", task, data)
        # Made now, so that a cancel that comes before the call starts still reaches it.
        scope = self._running[task.id] = anyio.CancelScope()
        assert self._tg is not None
        self._tg.start_soon(self._run_attempt, task, chosen, scope, name=f"task {task.id}")
        return True

    async def _run_attempt(self, task: Task, agent: Candidate, scope: anyio.CancelScope) -> None:
        started = time.perf_counter()
        ok: bool | None = None
        try:
            with logcontext.bound(task=task.id):
                ok = await self._attempt(task, agent, scope)
        finally:
            self._running.pop(task.id, None)
            self.agents.release(agent.agent_id, ok=ok, seconds=time.perf_counter() - started)
            self.wake()

    async def _attempt(self, task: Task, agent: Candidate, scope: anyio.CancelScope) -> bool | None:
        """Run one attempt; returns whether it succeeded (None: it was cancelled)."""
        request = task.request

        async def report(progress: float, total: float | None, message: str | None) -> None:
            data = {"attempt": task.attempt, "progress": progress, "total": total, "message": message}
            self._publish("task.progress", task, data)

        caller = Caller(
            actor=f"task:{task.id}",
            source=SOURCE,
            progress=report,
            meta={IDEMPOTENCY_KEY: f"{task.id}:{task.attempt}"},
        )
        result: types.CallToolResult | None = None
        error: CorralError | None = None
        with scope:
            try:
                result = await self._path.call(
                    agent.server,
                    tool_on(agent, request),
                    request.arguments,
                    caller,
                    timeout_s=request.timeout_s,
                )
            except CorralError as exc:
                error = exc
        if scope.cancelled_caught:
            await self.store.move(
                task.id, task.attempt, TaskState.CANCELLED, self._clock.now(),
                attempt_state=AttemptState.CANCELLED, error="cancelled while running",
            )  # fmt: skip
            return None
        if result is not None and not result.is_error:
            await self._complete(task, result)
            return True
        if result is not None:
            await self._failed_attempt(
                task, "tool_error", f"the tool returned an error: {error_text(result)}", result
            )
        else:
            assert error is not None
            await self._failed_attempt(task, failure_kind(error), error.message, None)
        return False

    async def _complete(self, task: Task, result: types.CallToolResult) -> None:
        value = tool_result_value(result)
        moved = await self.store.move(
            task.id, task.attempt, TaskState.COMPLETED, self._clock.now(),
            attempt_state=AttemptState.COMPLETED, result=value,
        )  # fmt: skip
        if moved:
            data = {"attempt": task.attempt, "agent": task.agent, "result": value}
            await self._settled("task.completed", task, data)
        else:
            self._publish("task.late_result", task, {"attempt": task.attempt, "agent": task.agent})

    async def _failed_attempt(
        self, task: Task, kind: str, message: str, result: types.CallToolResult | None
    ) -> None:
        policy = task.request.retry
        now = self._clock.now()
        value: Any = tool_result_value(result) if result is not None else None
        if kind in policy.on and task.attempt < policy.attempts:
            moved = await self.store.move(
                task.id, task.attempt, TaskState.QUEUED, now,
                attempt_state=AttemptState.FAILED, error=message, result=value,
            )  # fmt: skip
            if moved:
                self._publish(
                    "task.retrying", task, {"attempt": task.attempt, "agent": task.agent, "error": message}
                )
            return
        moved = await self.store.move(
            task.id, task.attempt, TaskState.FAILED, now, attempt_state=AttemptState.FAILED,
            result=value, is_error=True, error=message, failure=kind,
        )  # fmt: skip
        if moved:
            data = {"attempt": task.attempt, "agent": task.agent, "error": message}
            await self._settled("task.failed", task, data)

    async def _finish_failed(self, task: Task, message: str) -> None:
        if await self.store.move(
            task.id, task.attempt, TaskState.FAILED, self._clock.now(), from_states=[TaskState.QUEUED],
            is_error=True, error=message, failure="unavailable",
        ):  # fmt: skip
            await self._settled("task.failed", task, {"attempt": task.attempt, "error": message})

    # -- after a restart --------------------------------------------------------------------------

    async def _recover(self, task: Task) -> None:
        """A task the last process left dispatched or running: its attempt is lost; run it again when
        that is safe, else follow its ``on_uncertain``."""
        safe = await self._safe_to_repeat(task)
        policy = "retry" if safe else task.request.on_uncertain
        reason = "in flight when the hub stopped"
        now = self._clock.now()
        if policy == "retry":
            moved = await self.store.move(
                task.id, task.attempt, TaskState.QUEUED, now, attempt_state=AttemptState.LOST, error=reason
            )
            event = "task.queued"
        elif policy == "fail":
            moved = await self.store.move(
                task.id, task.attempt, TaskState.FAILED, now, attempt_state=AttemptState.LOST,
                is_error=True, error=f"{reason}; not repeated (on_uncertain: fail)",
            )  # fmt: skip
            event = "task.failed"
        else:
            moved = await self.store.move(
                task.id, task.attempt, TaskState.HELD, now, attempt_state=AttemptState.LOST,
                error=f"{reason}; the call may have taken effect: held for a decision (on_uncertain: hold)",
            )  # fmt: skip
            event = "task.held"
        if moved:
            logger.info("task %s was %s; %s", task.id, reason, event.removeprefix("task."))
            data = {"attempt": task.attempt, "recovered": True}
            if event == "task.failed":
                await self._settled(event, task, data)
            else:
                self._publish(event, task, data)
            self.wake()

    async def _safe_to_repeat(self, task: Task) -> bool:
        """Whether the task's tool is read-only or idempotent by its annotations (unknown: not safe)."""
        if task.agent is None or task.request.tool is None:
            return False
        try:
            server = self.agents.server_of(task.agent)
        except NotFound:
            return False
        candidate = Candidate(agent_id=task.agent, node="", server=server, tools=frozenset())
        tool = tool_on(candidate, task.request)
        definition = self._path.definition(server, tool)
        if definition is None:
            with anyio.move_on_after(RECOVERY_WAIT_S):
                definition = await self._path.definition_when_ready(server, tool)
        hints = definition.annotations if definition is not None else None
        return hints is not None and bool(hints.read_only_hint or hints.idempotent_hint)

    async def _settled(self, event: str, task: Task, data: dict[str, Any]) -> None:
        """A task reached its end: tell the event stream, then whoever follows it (its group)."""
        self._publish(event, task, data)
        if (waiter := self._waiters.pop(task.id, None)) is not None:
            waiter.set()
        if task.group_id is not None and self.on_settled is not None:
            await self.on_settled(task)

    def _publish(self, event: str, task: Task, data: dict[str, Any]) -> None:
        self._bus.publish(
            TOPIC, event, task.id, {"project": task.request.project, "group": task.group_id, **data}
        )


def _may_offer(candidate: Candidate, wanted: Requirement) -> bool:
    """Whether the agent offers what is asked, or may once it has listed its tools (it is starting)."""
    if offers(candidate, wanted):
        return True
    return not candidate.tools_known and (
        wanted.capability is None or wanted.capability in candidate.capabilities
    )


def _unknown(request: TaskRequest, candidates: list[Candidate]) -> str:
    if request.capability is not None and not any(
        request.capability in item.capabilities for item in candidates
    ):
        offered = sorted({capability for item in candidates for capability in item.capabilities})
        return f"unknown capability {request.capability!r}; agents offer: {', '.join(offered) or 'none'}"
    tools = sorted({f"{item.server}__{tool}" for item in candidates for tool in item.tools})
    shown = ", ".join(tools[:50]) + (f", … ({len(tools)} in all)" if len(tools) > 50 else "")
    what = f"capability {request.capability!r} with tool" if request.capability else "tool"
    return f"no agent offers {what} {request.tool!r}; agents' tools: {shown or 'none (no agent serves now)'}"
