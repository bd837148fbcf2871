"""The workflow engine: definitions in, executions out, and every execution resumed after a restart.

It owns one task per running execution in its task group. On start it
re-creates the owners of the executions the store says are unfinished; each
skips its finished steps and treats the in-flight ones by the tool's
annotations (see ``execution.recover_in_flight``). Each owner starts with its
execution's id bound for logging, each step task with the step's.
"""

from __future__ import annotations

import logging
import statistics
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup
from pydantic import ValidationError

from corral import strict
from corral.clock import Clock
from corral.errors import Conflict, InvalidInput, NotFound
from corral.events.bus import EventBus
from corral.observability import logcontext
from corral.supervisor.supervisor import Supervisor
from corral.workflow import dag
from corral.workflow.checkpoints import Checkpoint, CheckpointWriter
from corral.workflow.execution import (
    Commands,
    ExecutionContext,
    ExecutionRun,
    StepFinished,
)
from corral.workflow.models import ExecutionStatus, StepStatus, WorkflowDefinition
from corral.workflow.results import execution_result
from corral.workflow.step_calls import StepCalls
from corral.workflow.store import Execution, StepRun, StoredWorkflow, WorkflowHistory, WorkflowStore
from corral.workflow.validation import Problem, ToolState, validate

logger = logging.getLogger(__name__)

DEFAULT_STEP_SECONDS = 1.0
MAX_RESUMES = 5
RESUME_DELAY_S = 1.0
HISTORY_REFRESH_S = 10.0
MAX_HISTORIES = 1024


@dataclass(frozen=True)
class Started:
    """What ``WorkflowEngine.start`` did: the execution, and whether this request created it."""

    execution: Execution
    created: bool


class WorkflowEngine:
    def __init__(
        self,
        store: WorkflowStore,
        supervisor: Supervisor,
        tools: StepCalls,
        bus: EventBus,
        clock: Clock,
        *,
        max_running_steps: int = 256,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        step_finished: StepFinished | None = None,
    ) -> None:
        """``step_finished`` hears of every step that completes or fails (the hub's metrics)."""
        self.store = store
        self.history = WorkflowHistory(store.database)
        self._store = store
        self._supervisor = supervisor
        self._tools = tools
        self._bus = bus
        self._clock = clock
        self._checkpoints = CheckpointWriter(store.database, bus)
        self._ctx = ExecutionContext(
            store=store,
            checkpoints=self._checkpoints,
            supervisor=supervisor,
            tools=tools,
            bus=bus,
            clock=clock,
            sleep=sleep,
            global_limit=anyio.CapacityLimiter(max_running_steps),
            start_child=self._start_child,
            wait_finished=self.wait_finished,
            step_finished=step_finished,
        )
        self._commands: dict[str, Commands] = {}
        self._failures: dict[str, int] = {}
        self._finished: dict[str, anyio.Event] = {}
        self._histories: dict[str, tuple[float, dict[str, list[float]]]] = {}
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # The checkpoint writer outlives the executions: their last checkpoints are written as they stop.
        async with anyio.create_task_group() as writer:
            await writer.start(self._checkpoints.run)
            try:
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    task_status.started()
                    try:
                        await anyio.sleep_forever()
                    finally:
                        self._tg = None
                        tg.cancel_scope.cancel()
            finally:
                self._checkpoints.close()

    # -- definitions -------------------------------------------------------------------------

    def check(self, definition: WorkflowDefinition, exists: Callable[[str], bool]) -> list[Problem]:
        return validate(definition, self._tool_state, exists)

    async def create(self, document: dict[str, Any]) -> tuple[StoredWorkflow, list[Problem]]:
        """Validate and store a definition as a new version; returns it with its warnings.

        Raises:
            InvalidInput: the definition is malformed or refers to what does not exist; ``errors`` lists all.
        """
        definition = parse_definition(document)
        known = {stored.definition.workflow_id for stored in await self._store.latest_definitions()}
        problems = self.check(definition, lambda workflow_id: workflow_id in known)
        errors = [problem for problem in problems if problem.severity == "error"]
        if errors:
            raise InvalidInput(
                f"invalid workflow {definition.workflow_id!r}: {errors[0]}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                errors=[str(problem) for problem in errors],
            )
        version = await self._store.save_definition(definition, self._clock.now())
        self._bus.publish("workflows", "workflow.saved", definition.workflow_id, {"version": version})
        stored = await self._store.definition(definition.workflow_id, version)
        assert stored is not None
        return stored, [problem for problem in problems if problem.severity == "warning"]

    async def definition(self, workflow_id: str, version: int | None = None) -> StoredWorkflow:
        """Raises: NotFound."""
        stored = await self._store.definition(workflow_id, version)
        if stored is None:
            which = f" version {version}" if version else ""
            raise NotFound(f"no workflow {workflow_id!r}{which}")
        return stored

    def _tool_state(self, server: str, tool: str) -> ToolState:
        if self._tools.is_hub(server):
            return "ok" if self._tools.definition(server, tool) is not None else "unknown_tool"
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return "unknown_server"
        if not runner.state.digests:
            return "server_down"
        if any(item.name == tool for item in runner.state.catalog.tools):
            return "ok"
        return "unknown_tool" if runner.state.status.serving or runner.idle else "server_down"

    # -- executions --------------------------------------------------------------------------

    async def execute(
        self,
        workflow_id: str,
        params: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        target_machines: list[str] | None = None,
        parent: str | None = None,
    ) -> str:
        """Start an execution; returns its id.

        Raises:
            NotFound: no such workflow (version).
            InvalidInput: a parameter is missing or of the wrong type.
        """
        started = await self._create(
            "ex_" + uuid.uuid4().hex[:20], workflow_id, params or {}, version, target_machines or [], parent
        )
        assert started is not None  # a fresh id
        return started.id

    async def start(
        self,
        workflow_id: str,
        params: dict[str, Any] | None = None,
        *,
        execution_id: str | None = None,
        version: int | None = None,
        target_machines: list[str] | None = None,
    ) -> Started:
        """Start an execution, under ``execution_id`` when the caller chose one.

        A caller that lost the answer retries with the same ``execution_id``: when that execution was
        started by the same request (workflow, version if given, parameters, machines), it is returned
        (``created`` False) and nothing else starts.

        Raises:
            NotFound: no such workflow (version).
            InvalidInput: a parameter is missing or of the wrong type.
            Conflict: ``execution_id`` names an execution started by a different request.
        """
        params, machines = params or {}, target_machines or []
        if execution_id is None:
            execution_id = "ex_" + uuid.uuid4().hex[:20]
        else:
            existing = await self._store.execution(execution_id)
            if existing is not None:
                return await self._started_before(existing, workflow_id, params, version, machines)
        created = await self._create(execution_id, workflow_id, params, version, machines, None)
        if created is not None:
            return Started(created, created=True)
        existing = await self._store.execution(execution_id)  # a twin request stored it first
        assert existing is not None
        return await self._started_before(existing, workflow_id, params, version, machines)

    async def _create(
        self,
        execution_id: str,
        workflow_id: str,
        params: dict[str, Any],
        version: int | None,
        target_machines: list[str],
        parent: str | None,
    ) -> Execution | None:
        """The new execution, launched; None when one with ``execution_id`` exists."""
        stored = await self.definition(workflow_id, version)
        resolved = resolve_params(stored.definition, params)
        now = self._clock.now()
        execution = Execution(
            execution_id, workflow_id, stored.version, ExecutionStatus.PENDING, resolved,
            list(target_machines), parent, None, now, None, None, last_seq=1,
        )  # fmt: skip
        data = {"workflow_id": workflow_id, "params": resolved}
        if not await self._checkpoints.write(
            Checkpoint(execution, 1, "execution.created", now, data, new=True)
        ):
            return None
        self._start(self._new_run(execution, stored.definition, {}))
        return execution

    async def _started_before(
        self,
        existing: Execution,
        workflow_id: str,
        params: dict[str, Any],
        version: int | None,
        target_machines: list[str],
    ) -> Started:
        """``existing`` when the request is the one that started it. Raises: Conflict naming what differs."""
        differs: list[str] = []
        if existing.parent is not None or existing.workflow_id != workflow_id:
            differs.append(f"workflow {existing.workflow_id!r}")
        elif version is not None and version != existing.version:
            differs.append(f"version {existing.version}")
        else:
            stored = await self.definition(existing.workflow_id, existing.version)
            try:
                same_params = resolve_params(stored.definition, params) == existing.params
            except InvalidInput:
                same_params = False
            if not same_params:
                differs.append("other parameters")
        if list(target_machines) != existing.target_machines:
            differs.append("other target_machines")
        if differs:
            raise Conflict(
                f"execution {existing.id!r} exists and was started with {' and '.join(differs)}; "
                "choose another execution_id for a new run"
            )
        return Started(existing, created=False)

    def _new_run(
        self,
        execution: Execution,
        definition: WorkflowDefinition,
        runs: dict[str, StepRun],
        recovering: str | None = None,
    ) -> ExecutionRun:
        if self._tg is None:
            raise Conflict("the workflow engine is not running")
        commands = self._commands.setdefault(execution.id, Commands())
        self._finished.setdefault(execution.id, anyio.Event())
        return ExecutionRun(self._ctx, execution, definition, runs, commands, recovering)

    def _start(self, run: ExecutionRun) -> None:
        if self._tg is None:
            raise Conflict("the workflow engine is not running")
        with logcontext.fresh(execution=run.id, workflow=run.workflow_id):
            self._tg.start_soon(self._own, run, name=f"execution:{run.id}")

    async def _own(self, run: ExecutionRun) -> None:
        try:
            status = await run.run()
            logger.info("execution %s %s", run.id, status.value)
            self._failures.pop(run.id, None)
        except Exception:
            # One broken execution must not stop the engine. It is unfinished in the store, so it
            # is resumed from its checkpoints after a pause, like after a restart (a few times).
            failures = self._failures[run.id] = self._failures.get(run.id, 0) + 1
            logger.exception("execution %s stopped on an error (%d time(s))", run.id, failures)
            if failures <= MAX_RESUMES and self._tg is not None:
                self._tg.start_soon(self._resume_later, run.id, RESUME_DELAY_S * failures)
        finally:
            self._commands.pop(run.id, None)
            self._finished.pop(run.id, anyio.Event()).set()

    async def _resume_later(self, execution_id: str, delay: float) -> None:
        await anyio.sleep(delay)
        execution = await self._store.execution(execution_id)
        if execution is not None and not execution.status.finished:
            await self._resume(execution, reason="resumed after an error")

    def running_count(self) -> int:
        """Executions with a live owner in this hub (running, or paused waiting)."""
        return len(self._commands)

    async def _start_child(self, workflow_id: str, parent: str, params: dict[str, Any]) -> str:
        return await self.execute(workflow_id, params, parent=parent)

    async def wait_finished(self, execution_id: str) -> Execution:
        """Wait until the execution ends (or the engine stops) and return its record."""
        finished = self._finished.get(execution_id)
        if finished is not None:
            await finished.wait()
        execution = await self._store.execution(execution_id)
        if execution is None:
            raise NotFound(f"no execution {execution_id!r}")
        return execution

    async def recover(self) -> int:
        """Resume every unfinished execution that has no owner here; returns how many.

        Each settles its steps that were in flight as soon as their servers had their first start
        (see ``ExecutionRun``), so an execution waits only for the servers it needs.
        """
        resumed = 0
        for execution in await self._store.unfinished():
            # One started since the hub opened its API already has its owner.
            if execution.id not in self._commands:
                resumed += await self._resume(execution, reason="hub restarted")
        if resumed:
            logger.info("resuming %d unfinished workflow execution(s)", resumed)
        return resumed

    async def _resume(self, execution: Execution, *, reason: str) -> bool:
        """Re-create an execution's owner from its checkpoints; False when it cannot be."""
        stored = await self._store.definition(execution.workflow_id, execution.version)
        if stored is None:
            logger.error("execution %s refers to a missing workflow version; left as it is", execution.id)
            return False
        runs = await self._store.step_runs(execution.id)
        self._start(self._new_run(execution, stored.definition, runs, recovering=reason))
        return True

    # -- control -----------------------------------------------------------------------------

    async def cancel(self, execution_id: str) -> Execution:
        return await self._command(execution_id, lambda commands: setattr(commands, "cancel", True))

    async def pause(self, execution_id: str) -> Execution:
        return await self._command(execution_id, lambda commands: setattr(commands, "pause", True))

    async def resume(self, execution_id: str) -> Execution:
        return await self._command(execution_id, lambda commands: setattr(commands, "pause", False))

    async def decide(self, execution_id: str, step_key: str, action: str) -> Execution:
        """Settle a step held after a crash: ``retry``, ``fail`` or ``skip``.

        Raises: NotFound, InvalidInput.
        """
        if action not in ("retry", "fail", "skip"):
            raise InvalidInput(f"decision must be retry, fail or skip, not {action!r}")
        runs = await self._store.step_runs(execution_id)
        if step_key not in runs or not runs[step_key].uncertain:
            raise InvalidInput(f"step {step_key!r} of {execution_id} is not waiting for a decision")
        return await self._command(
            execution_id, lambda commands: commands.decisions.__setitem__(step_key, action)
        )

    async def _command(self, execution_id: str, change: Callable[[Commands], object]) -> Execution:
        execution = await self._store.execution(execution_id)
        if execution is None:
            raise NotFound(f"no execution {execution_id!r}")
        commands = self._commands.get(execution_id)
        if commands is None or execution.status.finished:
            raise Conflict(f"execution {execution_id} is {execution.status.value}; it cannot be changed")
        change(commands)
        commands.poke()
        return execution

    # -- reading -----------------------------------------------------------------------------

    async def summaries(
        self,
        *,
        pattern: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The latest version of each workflow with its latest execution; ``status`` filters on that.

        By workflow id: those after ``after``, at most ``limit``.
        """
        summaries: list[dict[str, Any]] = []
        # The status filter is on each workflow's latest execution, so the store cannot stop at ``limit``.
        definitions = await self._store.latest_definitions(
            pattern=pattern, after=after, limit=limit if status is None else None
        )
        for stored in definitions:
            if limit is not None and len(summaries) == limit:
                break
            latest = await self._store.executions(workflow_id=stored.definition.workflow_id, limit=1)
            last_status = latest[0].status.value if latest else None
            if status is not None and last_status != status:
                continue
            summaries.append(
                {
                    "workflow_id": stored.definition.workflow_id,
                    "name": stored.definition.name,
                    "description": stored.definition.description,
                    "pattern": stored.definition.pattern,
                    "version": stored.version,
                    "steps": len(stored.definition.steps),
                    "created_at": stored.created_at.isoformat(),
                    "last_execution": latest[0].id if latest else None,
                    "last_status": last_status,
                }
            )
        return summaries

    async def executions(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> list[Execution]:
        return await self._store.executions(
            workflow_id=workflow_id, status=status, limit=limit, before=before
        )

    async def events(self, execution_id: str, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Raises: NotFound."""
        if await self._store.execution(execution_id) is None:
            raise NotFound(f"no execution {execution_id!r}")
        return [event.to_json() for event in await self._store.events(execution_id, after_seq, limit)]

    async def status(self, execution_id: str) -> dict[str, Any]:
        """Status, per-step states, progress and the estimated completion of an execution.

        Raises: NotFound.
        """
        found = await self._store.execution_with_steps(execution_id)
        if found is None:
            raise NotFound(f"no execution {execution_id!r}")
        execution, runs = found
        stored = await self.definition(execution.workflow_id, execution.version)
        steps = stored.definition.steps
        statuses = {
            step.id: runs[step.id].status if step.id in runs else StepStatus.PENDING for step in steps
        }
        finished = sum(status.finished for status in statuses.values())
        estimate = None
        if not execution.status.finished:
            durations = await self._expected_durations(stored.definition)
            seconds = dag.remaining_seconds(steps, statuses, durations)
            estimate = (self._clock.now() + timedelta(seconds=seconds)).isoformat()
        return {
            **execution.to_json(),
            "progress": round(finished / len(steps), 4),
            "estimated_completion": estimate,
            "steps": [run.to_json() for run in sorted(runs.values(), key=lambda run: run.key)],
            "step_states": {step_id: status.value for step_id, status in statuses.items()},
            "result": execution_result(runs) if execution.status.finished else None,
        }

    async def _step_history(self, workflow_id: str) -> dict[str, list[float]]:
        """Recent step durations of a workflow, read at most every ``HISTORY_REFRESH_S`` for estimates.

        The query reads up to a thousand rows; a client polling a running execution would pay it
        on every poll, while the medians it gives move slowly.
        """
        now = self._clock.monotonic()
        cached = self._histories.get(workflow_id)
        if cached is not None and now - cached[0] < HISTORY_REFRESH_S:
            return cached[1]
        history = await self._store.step_durations(workflow_id)
        if len(self._histories) >= MAX_HISTORIES:
            self._histories.clear()
        self._histories[workflow_id] = (now, history)
        return history

    async def _expected_durations(self, definition: WorkflowDefinition) -> dict[str, float]:
        history = await self._step_history(definition.workflow_id)
        expected: dict[str, float] = {}
        for step in definition.steps:
            if step.estimated_duration is not None:
                expected[step.id] = step.estimated_duration
            elif history.get(step.id):
                expected[step.id] = statistics.median(history[step.id])
            else:
                expected[step.id] = DEFAULT_STEP_SECONDS
        return expected


def parse_definition(document: dict[str, Any]) -> WorkflowDefinition:
    """Raises: InvalidInput naming the field, for every schema problem."""
    try:
        return WorkflowDefinition.model_validate(document)
    except ValidationError as exc:
        raise strict.invalid_input(exc, what="invalid workflow definition") from exc


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def resolve_params(definition: WorkflowDefinition, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, required ones present, types right. Raises: InvalidInput naming the parameter."""
    unknown = sorted(set(given) - set(definition.params))
    if unknown:
        suggestion = strict.nearest(unknown[0], definition.params)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise InvalidInput(f"params.{unknown[0]}: not a parameter of {definition.workflow_id!r}{hint}")
    resolved: dict[str, Any] = {}
    for name, spec in definition.params.items():
        if name in given:
            value = given[name]
        elif spec.default is not None or not spec.required:
            value = spec.default
        else:
            raise InvalidInput(f"params.{name}: required")
        if value is not None and spec.type is not None:
            allowed = _JSON_TYPES[spec.type]
            if not isinstance(value, allowed) or (
                spec.type in ("number", "integer") and isinstance(value, bool)
            ):
                raise InvalidInput(f"params.{name}: expected {spec.type}, got {type(value).__name__}")
        resolved[name] = value
    return resolved
