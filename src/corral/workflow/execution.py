"""One execution's owner: walks the DAG, runs ready steps, checkpoints every change.

The owner task is the only writer of its execution: it numbers its events and
keeps its row in memory. Ready steps run concurrently (bounded per execution
and hub-wide); each attempt is checkpointed before the call and its result
after, each in the same transaction as the event that tells of it. A step's
result is durable before its dependents start; the record that an attempt
started is durable before the call only when the call could not simply run
again after a crash (see ``ExecutionRun._may_repeat``). Re-created from the
store after a crash, the owner skips every finished step and decides what to
do with the ones that were in flight (see ``recover_in_flight``). A step whose
tool runs as an upstream MCP task keeps the task's id in its checkpoint and
re-attaches to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import TaskGroup

from corral.clock import Clock
from corral.events.bus import EventBus
from corral.observability import logcontext
from corral.supervisor.supervisor import Supervisor
from corral.workflow import dag
from corral.workflow.checkpoints import Checkpoint, CheckpointWriter, step_values
from corral.workflow.models import ExecutionStatus, StepDefinition, StepStatus, WorkflowDefinition
from corral.workflow.results import execution_result, outcome, step_view
from corral.workflow.step_calls import CallUncertain, StepCalls, ToolCallFailed
from corral.workflow.store import Execution, StepRun, WorkflowStore
from corral.workflow.templates import TemplateError, evaluate, render

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "io.corral/idempotency-key"
Sleep = Callable[[float], Awaitable[None]]
SubWorkflow = Callable[[str, str, dict[str, Any]], Awaitable[str]]
WaitFinished = Callable[[str], Awaitable[Execution]]
StepFinished = Callable[[str, StepRun], None]
"""Told (workflow id, run) each time a step (not a ``for_each`` item) completes or fails; must not block."""
STEP_ENDINGS = frozenset({"step.completed", "step.failed"})


@dataclass
class Commands:
    """What people asked of a running execution; the owner reads it between steps, and whenever it is
    poked (by a command, or by one of its steps ending)."""

    cancel: bool = False
    pause: bool = False
    decisions: dict[str, str] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def poke(self) -> None:
        self.changed.set()


@dataclass(frozen=True)
class ExecutionContext:
    store: WorkflowStore
    checkpoints: CheckpointWriter
    supervisor: Supervisor
    tools: StepCalls
    bus: EventBus
    clock: Clock
    sleep: Sleep
    global_limit: anyio.CapacityLimiter
    start_child: SubWorkflow
    wait_finished: WaitFinished
    step_finished: StepFinished | None = None


class ExecutionRun:
    def __init__(
        self,
        ctx: ExecutionContext,
        execution: Execution,
        definition: WorkflowDefinition,
        runs: dict[str, StepRun],
        commands: Commands,
        recovering: str | None = None,
    ) -> None:
        """``recovering`` says why an execution that had an owner before is resumed from its checkpoints
        (its steps that were in flight are settled first)."""
        self._ctx = ctx
        self._recovering = recovering
        self._execution = execution
        self._definition = definition
        self._runs = runs
        self._commands = commands
        self._limit = anyio.CapacityLimiter(definition.max_parallel)
        self._running: set[str] = set()
        self._failure: str | None = None
        for step in definition.steps:
            runs.setdefault(step.id, StepRun(key=step.id, step_id=step.id))

    @property
    def id(self) -> str:
        return self._execution.id

    @property
    def workflow_id(self) -> str:
        return self._definition.workflow_id

    async def run(self) -> ExecutionStatus:
        if self._recovering is not None:
            await self._recover(self._recovering)
        if self._execution.status is ExecutionStatus.PENDING:
            # Not waited for: the first step's checkpoint makes it durable (or a crash leaves it pending).
            await self._set_status(ExecutionStatus.RUNNING, "execution.started", wait=False)
        async with anyio.create_task_group() as tg:
            outcome = await self._drive(tg)
            tg.cancel_scope.cancel()
        return outcome

    async def _drive(self, tg: TaskGroup) -> ExecutionStatus:
        while True:
            # Renewed before looking, so whatever changes from here on wakes the wait below.
            self._commands.changed = anyio.Event()
            commands = self._commands
            if commands.cancel:
                return await self._cancel(tg)
            await self._apply_decisions()
            held = [
                run.key for run in self._runs.values() if run.uncertain and run.status is StepStatus.PENDING
            ]
            if commands.pause or held:
                if self._status_is(ExecutionStatus.RUNNING) and not self._running:
                    reason = "held for a decision: " + ", ".join(held) if held else "paused"
                    await self._set_status(ExecutionStatus.PAUSED, "execution.paused", {"reason": reason})
            else:
                if self._status_is(ExecutionStatus.PAUSED):
                    await self._set_status(ExecutionStatus.RUNNING, "execution.resumed")
                if self._failure is None:
                    await self._skip_blocked()
                    for step_id in dag.ready(self._definition.steps, self._statuses()):
                        if step_id not in self._running:
                            self._running.add(step_id)
                            with logcontext.bound(step=step_id):
                                tg.start_soon(self._run_step, self._definition.step(step_id))
            if not self._running:
                if self._failure is not None:
                    return await self._finish(ExecutionStatus.FAILED, self._failure)
                if all(self._runs[step.id].status.finished for step in self._definition.steps):
                    return await self._finish(ExecutionStatus.COMPLETED, None)
            await self._commands.changed.wait()

    def _statuses(self) -> dict[str, StepStatus]:
        return {step.id: self._runs[step.id].status for step in self._definition.steps}

    def _status_is(self, status: ExecutionStatus) -> bool:
        return self._execution.status is status

    # -- steps -------------------------------------------------------------------------------

    async def _run_step(self, step: StepDefinition) -> None:
        run = self._runs[step.id]
        try:
            context = self._template_context()
            if step.when is not None:
                go = await self._when(step, context)
                if go is None:
                    return  # the condition itself failed the step
                if not go:
                    run.status = StepStatus.SKIPPED
                    await self._checkpoint("step.skipped", run, {"reason": "condition is false"})
                    return
            if step.for_each is not None:
                await self._run_for_each(step, run, context)
            else:
                await self._run_attempts(step, run, context)
        finally:
            self._running.discard(step.id)
            self._commands.poke()

    async def _when(self, step: StepDefinition, context: dict[str, Any]) -> bool | None:
        """Whether the step's condition holds; None when it could not be evaluated (the step failed)."""
        assert step.when is not None
        try:
            return bool(evaluate(step.when, context))
        except TemplateError as exc:
            await self._fail_step(step, self._runs[step.id], f"when: {exc}")
            return None

    async def _run_for_each(self, step: StepDefinition, parent: StepRun, context: dict[str, Any]) -> None:
        assert step.for_each is not None
        if "items" not in parent.detail:
            try:
                items = evaluate(step.for_each, context)
            except TemplateError as exc:
                await self._fail_step(step, parent, f"for_each: {exc}")
                return
            if not isinstance(items, list):
                await self._fail_step(step, parent, f"for_each gave {type(items).__name__}, not a list")
                return
            parent.status, parent.detail = StepStatus.RUNNING, {"items": items}
            parent.started_at = self._ctx.clock.now()
            await self._checkpoint("step.started", parent, {"items": len(items)})
        items = parent.detail["items"]
        item_limit = anyio.CapacityLimiter(step.concurrency)

        async def one(index: int, item: Any) -> None:
            key = f"{step.id}[{index}]"
            run = self._runs.setdefault(key, StepRun(key=key, step_id=step.id, item=index))
            if run.status.finished:
                return
            async with item_limit:
                await self._run_attempts(step, run, {**context, "item": item, "index": index})

        async with anyio.create_task_group() as tg:
            for index, item in enumerate(items):
                tg.start_soon(one, index, item)
        item_runs = [self._runs[f"{step.id}[{index}]"] for index in range(len(items))]
        held = [run.key for run in item_runs if run.uncertain]
        if held:
            # An item whose call may have taken effect waits for a decision; the step goes on after it.
            parent.status = StepStatus.PENDING
            await self._checkpoint("step.held", parent, {"items": held})
            return
        failed = [run for run in item_runs if run.status is StepStatus.FAILED]
        parent.result = [run.result for run in item_runs]
        parent.finished_at = self._ctx.clock.now()
        parent.duration_s = _seconds(parent)
        if failed:
            await self._fail_step(
                step, parent, f"{len(failed)} of {len(items)} items failed: {failed[0].error}"
            )
        else:
            parent.status = StepStatus.COMPLETED
            await self._checkpoint("step.completed", parent, {"items": len(items)})

    async def _run_attempts(self, step: StepDefinition, run: StepRun, context: dict[str, Any]) -> None:
        while True:
            run.attempt += 1
            run.status, run.error, run.uncertain = StepStatus.RUNNING, None, False
            run.started_at = run.started_at or self._ctx.clock.now()
            await self._checkpoint(
                "step.started", run, {"attempt": run.attempt}, wait=not self._may_repeat(step)
            )
            try:
                async with self._limit, self._ctx.global_limit:
                    result = await self._attempt(step, run, context)
            except CallUncertain as failure:
                if await self._settle_uncertain(step, run, failure.message):
                    continue
                return
            except ToolCallFailed as failure:
                if failure.kind in step.retry.on and run.attempt < step.retry.attempts:
                    delay = step.retry.delay(run.attempt)
                    run.error = failure.message
                    await self._checkpoint(
                        "step.retrying",
                        run,
                        {"attempt": run.attempt, "error": failure.message, "delay_s": delay},
                    )
                    await self._ctx.sleep(delay)
                    continue
                await self._fail_step(step, run, failure.message)
                return
            run.status, run.result = StepStatus.COMPLETED, result
            run.finished_at = self._ctx.clock.now()
            run.duration_s = _seconds(run)
            await self._checkpoint(
                "step.completed", run, {"attempt": run.attempt, "duration_s": run.duration_s}
            )
            return

    async def _attempt(self, step: StepDefinition, run: StepRun, context: dict[str, Any]) -> Any:
        try:
            arguments = render(dict(step.args), context)
        except TemplateError as exc:
            raise ToolCallFailed("invalid_arguments", f"args: {exc}") from exc
        if step.workflow is not None:
            return await self._sub_workflow(step, run, arguments)
        if step.routed or self._execution.target_machines:
            routed = await self._ctx.tools.call_routed(
                step,
                arguments,
                target_machines=step.target_machines or tuple(self._execution.target_machines),
                slot=_StepTask(run, self._checkpoint),
                actor=f"workflow:{self.id}",
            )
            run.schema_hash = routed.schema_hash
            return routed.result
        target = step.target()
        assert target is not None
        server, tool = target
        meta = {IDEMPOTENCY_KEY: f"{self.id}:{run.key}:{run.attempt}"}

        async def report(progress: float, total: float | None, message: str | None) -> None:
            self._ctx.bus.publish(
                "executions", "step.progress", self.id,
                {"step": run.key, "progress": progress, "total": total, "message": message},
            )  # fmt: skip

        outcome = await self._ctx.tools.call(
            server,
            tool,
            arguments,
            timeout_s=step.timeout,
            meta=meta,
            progress=report,
            actor=f"workflow:{self.id}",
            task=_StepTask(run, self._checkpoint),
        )
        run.server, run.schema_hash = server, outcome.schema_hash
        return outcome.result

    async def _sub_workflow(self, step: StepDefinition, run: StepRun, params: dict[str, Any]) -> Any:
        assert step.workflow is not None
        child_id = run.detail.get("child")
        if child_id is None:
            child_id = await self._ctx.start_child(step.workflow, self.id, params)
            run.detail = {**run.detail, "child": child_id}
            await self._checkpoint("step.child_started", run, {"child": child_id})
        child = await self._ctx.wait_finished(child_id)
        if child.status is not ExecutionStatus.COMPLETED:
            raise ToolCallFailed("tool_error", f"sub-workflow {child_id} {child.status.value}: {child.error}")
        return execution_result(await self._ctx.store.step_runs(child_id))

    async def _settle_uncertain(self, step: StepDefinition, run: StepRun, message: str) -> bool:
        """The server lost the task running the step's call: run it again if that is safe, else
        follow ``on_uncertain``. Returns True to run it again."""
        target = step.target()
        assert target is not None
        policy = uncertain_policy(step, self._annotations(*target))
        if policy == "retry":
            await self._checkpoint(
                "step.retrying", run, {"attempt": run.attempt, "error": message, "delay_s": 0}
            )
            return True
        if policy == "fail":
            await self._fail_step(step, run, f"{message}; not repeated (on_uncertain: fail)")
            return False
        run.status, run.uncertain = StepStatus.PENDING, True
        run.error = f"{message}; the call may have taken effect: held for a decision (on_uncertain: hold)"
        await self._checkpoint("step.held", run, {"error": run.error})
        return False

    async def _fail_step(self, step: StepDefinition, run: StepRun, message: str) -> None:
        run.status, run.error = StepStatus.FAILED, message
        run.finished_at = self._ctx.clock.now()
        run.duration_s = _seconds(run)
        await self._checkpoint("step.failed", run, {"error": message, "on_failure": step.on_failure})
        if step.on_failure == "fail" and self._failure is None:
            self._failure = f"step {step.id!r} failed: {message}"

    async def _skip_blocked(self) -> None:
        for step_id in sorted(dag.blocked_by_failure(self._definition.steps, self._statuses())):
            run = self._runs[step_id]
            run.status = StepStatus.SKIPPED
            await self._checkpoint("step.skipped", run, {"reason": "an upstream step failed"})

    def _template_context(self) -> dict[str, Any]:
        steps = {
            step.id: step_view(self._runs[step.id])
            for step in self._definition.steps
            if self._runs[step.id].status.finished
        }
        params = self._execution.params
        return {
            "params": params,
            "steps": steps,
            "execution": {"id": self.id, "workflow_id": self._definition.workflow_id},
        }

    # -- commands and endings ----------------------------------------------------------------

    async def _apply_decisions(self) -> None:
        for key, action in list(self._commands.decisions.items()):
            del self._commands.decisions[key]
            run = self._runs.get(key)
            if run is None or not run.uncertain:
                continue
            step = self._definition.step(run.step_id)
            if action == "retry":
                run.uncertain = False
                await self._checkpoint("step.decided", run, {"action": action})
            elif action == "fail":
                run.uncertain = False
                await self._fail_step(step, run, "failed by decision after it was in flight at a crash")
            elif action == "skip":
                run.uncertain, run.status = False, StepStatus.SKIPPED
                await self._checkpoint("step.skipped", run, {"reason": "skipped by decision"})

    async def _cancel(self, tg: TaskGroup) -> ExecutionStatus:
        tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            for run in self._runs.values():
                if not run.status.finished:
                    if (task := run.detail.get("task")) is not None:
                        await self._ctx.tools.cancel_task(task["server"], task["id"])
                    run.status = StepStatus.CANCELLED
                    await self._checkpoint("step.cancelled", run, {})
        return await self._finish(ExecutionStatus.CANCELLED, "cancelled")

    async def _finish(self, status: ExecutionStatus, error: str | None) -> ExecutionStatus:
        with anyio.CancelScope(shield=True):
            told = outcome(self.id, status.value, error, self._runs)
            await self._set_status(status, f"execution.{status.value}", told, error)
        return status

    async def _set_status(
        self,
        status: ExecutionStatus,
        event: str,
        data: dict[str, Any] | None = None,
        error: str | None = None,
        *,
        wait: bool = True,
    ) -> None:
        now = self._ctx.clock.now()
        execution = replace(self._execution, status=status)
        if status is ExecutionStatus.RUNNING:
            execution = replace(execution, started_at=execution.started_at or now)
        if status.finished:
            execution = replace(execution, finished_at=now, error=error)
        self._execution = execution
        await self._record(self._next(event, data or {}), wait=wait)

    async def _checkpoint(self, event: str, run: StepRun, data: dict[str, Any], *, wait: bool = True) -> None:
        await self._record(self._next(event, data, step_values(self.id, run)), wait=wait)
        if self._ctx.step_finished is not None and event in STEP_ENDINGS and run.item is None:
            self._ctx.step_finished(self._definition.workflow_id, run)

    def _next(self, event: str, data: dict[str, Any], step: dict[str, Any] | None = None) -> Checkpoint:
        """The execution's next checkpoint; numbered here, in the order they are made."""
        self._execution = replace(self._execution, last_seq=self._execution.last_seq + 1)
        return Checkpoint(self._execution, self._execution.last_seq, event, self._ctx.clock.now(), data, step)

    async def _record(self, checkpoint: Checkpoint, *, wait: bool) -> None:
        if not wait:
            self._ctx.checkpoints.queue(checkpoint)
            return
        with anyio.CancelScope(shield=True):
            await self._ctx.checkpoints.write(checkpoint)

    async def _recover(self, reason: str) -> None:
        """Settle the steps that were in flight when the last owner stopped (``recover_in_flight``), once
        the servers of their tools had their first start: those tell the annotations that decide. Only
        those servers are waited for, not every server of the hub."""
        in_flight = (
            self._definition.step(run.step_id).target()
            for run in self._runs.values()
            if run.status is StepStatus.RUNNING
        )
        await self._ctx.supervisor.first_started(target[0] for target in in_flight if target is not None)
        for run, event in recover_in_flight(self._definition, self._runs, self._annotations):
            # Published like every other step event, so a watcher sees the step held (or resumed) at once.
            await self._checkpoint(event, run, {"reason": reason})

    def _annotations(self, server: str, tool: str) -> types.ToolAnnotations | None:
        definition = self._ctx.tools.definition(server, tool)
        return definition.annotations if definition is not None else None

    def _may_repeat(self, step: StepDefinition) -> bool:
        """Whether the step's call may run again after a crash, so that the record of its start need not
        be durable before the call: a crash that loses it leaves the step pending and it runs again, as
        ``recover_in_flight`` would have decided (a read-only or idempotent tool, or ``on_uncertain:
        retry``). Routed steps and sub-workflows keep their records first."""
        target = step.target()
        if target is None or step.routed or self._execution.target_machines:
            return False
        return uncertain_policy(step, self._annotations(*target)) == "retry"


def recover_in_flight(
    definition: WorkflowDefinition,
    runs: dict[str, StepRun],
    annotations: Callable[[str, str], types.ToolAnnotations | None],
) -> list[tuple[StepRun, str]]:
    """Decide what happens to steps that were running when the hub stopped.

    A read-only or idempotent tool simply runs again (its attempt is counted
    once more). A tool that may be destructive and is not idempotent is not
    silently repeated: its step's ``on_uncertain`` applies: ``retry`` runs it
    again, ``fail`` fails it, ``hold`` waits for a person (the execution
    pauses). Returns the runs changed, with the event to record.
    """
    changed: list[tuple[StepRun, str]] = []
    for run in runs.values():
        if run.status is not StepStatus.RUNNING:
            continue
        if run.item is None and "items" in run.detail:
            # A for_each step: its finished items stay finished, the others run when it resumes.
            run.status = StepStatus.PENDING
            changed.append((run, "step.resumed"))
            continue
        step = definition.step(run.step_id)
        target = step.target()
        if target is None or "task" in run.detail or "routed" in run.detail:
            policy = (
                "retry"  # a sub-workflow, an upstream task or a routed one is re-attached, not started twice
            )
        else:
            policy = uncertain_policy(step, annotations(*target))
        if policy == "retry":
            run.status = StepStatus.PENDING
            changed.append((run, "step.resumed"))
        elif policy == "fail":
            run.status, run.error = (
                StepStatus.FAILED,
                "in flight when the hub stopped; not repeated (on_uncertain: fail)",
            )
            changed.append((run, "step.failed"))
        else:
            run.status, run.uncertain = StepStatus.PENDING, True
            changed.append((run, "step.held"))
    return changed


def uncertain_policy(step: StepDefinition, hints: types.ToolAnnotations | None) -> str:
    """What to do with a call that may or may not have taken effect: run a read-only or idempotent
    tool again; for any other (missing hints count as destructive), the step's ``on_uncertain``."""
    safe = hints is not None and bool(hints.read_only_hint or hints.idempotent_hint)
    return "retry" if safe else step.on_uncertain


class _StepTask:
    """The ``TaskSlot`` of one step run (the upstream MCP task's server and id live in
    ``detail["task"]``) and its ``RoutedSlot`` (the routed task's id, in ``detail["routed"]``)."""

    def __init__(
        self, run: StepRun, checkpoint: Callable[[str, StepRun, dict[str, Any]], Awaitable[None]]
    ) -> None:
        self._run = run
        self._checkpoint = checkpoint

    @property
    def task_id(self) -> str | None:
        task = self._run.detail.get("task")
        return str(task["id"]) if task is not None else None

    async def save(self, server: str, task_id: str) -> None:
        self._run.detail = {**self._run.detail, "task": {"server": server, "id": task_id}}
        await self._checkpoint("step.task_started", self._run, {"server": server, "task": task_id})

    def clear(self) -> None:
        self._run.detail = {key: value for key, value in self._run.detail.items() if key != "task"}

    @property
    def routed_task(self) -> str | None:
        routed = self._run.detail.get("routed")
        return str(routed) if routed is not None else None

    async def save_routed(self, task_id: str) -> None:
        self._run.detail = {**self._run.detail, "routed": task_id}
        await self._checkpoint("step.task_routed", self._run, {"task": task_id})

    def clear_routed(self) -> None:
        self._run.detail = {key: value for key, value in self._run.detail.items() if key != "routed"}


def _seconds(run: StepRun) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return max(0.0, (run.finished_at - run.started_at).total_seconds())
