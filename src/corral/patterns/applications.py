"""The patterns service: validate a pattern against a live target, apply it, and keep the record.

Applying validates (every precondition and parameter), records the application,
instantiates the pattern as the workflow ``pattern.<pattern>.<target>`` (a new
version each time), starts its execution, and follows it: a task the service
owns in its task group waits for the execution to end and writes the outcome
and the per-step results into the record. On start the service takes up the
applications a previous run left unfinished, so a record is completed even
when the hub restarted while its execution ran.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup

from corral.clock import Clock
from corral.errors import Conflict, CorralError, InvalidInput, NotFound
from corral.events.bus import EventBus
from corral.patterns.instantiation import instantiate
from corral.patterns.library import PatternLibrary
from corral.patterns.models import Application, ApplicationStatus, Pattern, ValidationReport
from corral.patterns.preconditions import ServerSnapshot, TargetSnapshot, validate_application
from corral.patterns.store import MAX_TARGET, ApplicationStore
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor
from corral.workflow.engine import WorkflowEngine
from corral.workflow.models import ExecutionStatus
from corral.workflow.store import Execution

logger = logging.getLogger(__name__)

_ENDINGS = {
    ExecutionStatus.COMPLETED: ApplicationStatus.COMPLETED,
    ExecutionStatus.FAILED: ApplicationStatus.FAILED,
    ExecutionStatus.CANCELLED: ApplicationStatus.CANCELLED,
}


class PatternService:
    def __init__(
        self,
        library: PatternLibrary,
        store: ApplicationStore,
        engine: WorkflowEngine,
        supervisor: Supervisor,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self.library = library
        self._store = store
        self._engine = engine
        self._supervisor = supervisor
        self._bus = bus
        self._clock = clock
        self._tg: TaskGroup | None = None
        self._done: dict[str, anyio.Event] = {}

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            for application in await self._store.unfinished():
                if application.execution_id is None:
                    await self._store.finish(
                        application.id,
                        ApplicationStatus.FAILED,
                        now=self._clock.now(),
                        error="the hub stopped before the application's execution started",
                    )
                else:
                    self._done[application.id] = anyio.Event()
                    tg.start_soon(self._follow, application.id, application.execution_id)
            self._tg = tg
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    # -- patterns -----------------------------------------------------------------------------

    def patterns(self) -> list[Pattern]:
        return self.library.all()

    def pattern(self, pattern_id: str) -> Pattern:
        """Raises: NotFound."""
        return self.library.get(pattern_id)

    def snapshot(self, pattern: Pattern, target: str) -> TargetSnapshot:
        """What the hub knows now about ``target`` as ``pattern`` understands it (a server or a tag)."""
        runners = self._supervisor.runners()
        if pattern.target == "server":
            members = [runner for runner in runners if runner.spec.name == target]
        else:
            members = [runner for runner in runners if target in runner.spec.tags]
        return TargetSnapshot(pattern.target, target, tuple(_server(runner) for runner in members))

    def validate(self, pattern_id: str, target: str, params: dict[str, Any]) -> ValidationReport:
        """Every precondition's result and every parameter problem.

        Raises: NotFound (no such pattern), InvalidInput (an empty or overlong target name).
        """
        pattern = self.pattern(pattern_id)
        _check_target(target)
        return validate_application(pattern, self.snapshot(pattern, target), params)

    # -- applications -------------------------------------------------------------------------

    async def apply(self, pattern_id: str, target: str, params: dict[str, Any]) -> Application:
        """Validate, instantiate and start; returns the application (running, or already finished).

        Raises:
            NotFound: no such pattern.
            InvalidInput: a precondition or parameter fails (the rejected application is recorded, and
                ``errors`` lists every failure), or the instantiated workflow is refused.
            Conflict: the service is not running, or the pattern is already being applied to the target.
        """
        if self._tg is None:
            raise Conflict("the patterns service is not running")
        tg = self._tg
        pattern = self.pattern(pattern_id)
        _check_target(target)
        for other in await self._store.unfinished():
            if other.pattern_id == pattern.id and other.target == target:
                raise Conflict(
                    f"{pattern.id!r} is already being applied to {target!r} (application {other.id}, "
                    f"{other.status.value}); wait for it to finish"
                )
        snapshot = self.snapshot(pattern, target)
        report = validate_application(pattern, snapshot, params)
        application = Application(
            id="pa_" + uuid.uuid4().hex[:20],
            pattern_id=pattern.id,
            target_kind=pattern.target,
            target=target,
            params=report.params if report.ok else dict(params),
            status=ApplicationStatus.PENDING if report.ok else ApplicationStatus.REJECTED,
            validation=report.to_json(),
            workflow_id=None,
            workflow_version=None,
            execution_id=None,
            results=None,
            error=None if report.ok else "; ".join(report.errors()),
            created_at=self._clock.now(),
            finished_at=None if report.ok else self._clock.now(),
        )
        await self._store.add(application)
        if not report.ok:
            errors = report.errors()
            raise InvalidInput(
                f"cannot apply {pattern.id!r} to {target!r} (application {application.id}): "
                + "; ".join(errors),
                errors=errors,
            )
        try:
            stored, _ = await self._engine.create(
                instantiate(pattern, target, [m.name for m in snapshot.members])
            )
            workflow_id = stored.definition.workflow_id
            execution_id = await self._engine.execute(workflow_id, report.params)
        except CorralError as exc:
            with anyio.CancelScope(shield=True):
                await self._store.finish(
                    application.id, ApplicationStatus.FAILED, now=self._clock.now(), error=exc.message
                )
            raise
        with anyio.CancelScope(shield=True):
            await self._store.started(application.id, workflow_id, stored.version, execution_id)
        self._done[application.id] = anyio.Event()
        self._bus.publish(
            "workflows",
            "pattern.applied",
            application.id,
            {"pattern_id": pattern.id, "target": target, "execution_id": execution_id},
        )
        tg.start_soon(
            self._follow, application.id, execution_id, name=f"pattern-application:{application.id}"
        )
        return await self.application(application.id)

    async def application(self, application_id: str) -> Application:
        """Raises: NotFound."""
        found = await self._store.get(application_id)
        if found is None:
            raise NotFound(f"no pattern application {application_id!r}")
        return found

    async def applications(
        self,
        *,
        pattern_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> list[Application]:
        """Newest first; ``before`` is the (created_at, id) of the last one of the previous page."""
        return await self._store.list(pattern_id=pattern_id, status=status, limit=limit, before=before)

    async def wait_finished(self, application_id: str) -> Application:
        """Wait until an application this service follows has finished; returns its record."""
        done = self._done.get(application_id)
        if done is not None:
            await done.wait()
        return await self.application(application_id)

    # -- following executions -------------------------------------------------------------------

    async def _follow(self, application_id: str, execution_id: str) -> None:
        try:
            execution = await self._finished(execution_id)
            status = await self._engine.status(execution_id)
        except NotFound as exc:
            await self._finish(application_id, ApplicationStatus.FAILED, None, exc.message)
            return
        await self._finish(application_id, _ENDINGS[execution.status], _results(status), execution.error)

    async def _finished(self, execution_id: str) -> Execution:
        """The execution once it ended. One the engine does not run yet (the hub just restarted and has
        not resumed it) is waited for on the bus until the engine takes it up.

        Raises: NotFound.
        """
        while True:
            execution = await self._engine.wait_finished(execution_id)
            if execution.status.finished:
                return execution
            async with self._bus.subscribe() as events:
                status = await self._engine.status(execution_id)
                if ExecutionStatus(status["status"]).finished:
                    continue
                async for event in events:
                    if event.topic == "executions" and event.subject == execution_id:
                        break

    async def _finish(
        self,
        application_id: str,
        status: ApplicationStatus,
        results: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self._store.finish(
                application_id, status, now=self._clock.now(), results=results, error=error
            )
        self._bus.publish(
            "workflows", f"pattern.{status.value}", application_id, {"error": error} if error else {}
        )
        logger.info("pattern application %s %s", application_id, status.value)
        self._done.pop(application_id, anyio.Event()).set()


def _check_target(target: str) -> None:
    """Raises: InvalidInput."""
    if not target or len(target) > MAX_TARGET:
        raise InvalidInput(f"target: a server or tag name of 1 to {MAX_TARGET} characters")


def _server(runner: ServerRunner) -> ServerSnapshot:
    spec, state = runner.spec, runner.state
    return ServerSnapshot(
        name=spec.name,
        enabled=spec.enabled,
        status=state.status.value,
        detail=state.detail,
        circuit_state=state.circuit_state.value,
        transport=spec.transport.value,
        tags=spec.tags,
        capabilities=spec.capabilities,
        tools=tuple(tool.name for tool in state.catalog.tools),
    )


def _results(status: dict[str, Any]) -> dict[str, Any]:
    """Per step (and per item of a for_each, as ``step[i]``): status, result and error."""
    steps: dict[str, Any] = {
        step_id: {"status": "not_run" if state == "pending" else state, "result": None, "error": None}
        for step_id, state in status["step_states"].items()
    }
    for run in status["steps"]:
        steps[run["key"]] = {"status": run["status"], "result": run["result"], "error": run["error"]}
    return {"execution_status": status["status"], "steps": steps}
