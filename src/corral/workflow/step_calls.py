"""How a workflow step calls a tool: on the hub's one call path (``corral.calls.path``), like any caller.

So steps get the same definition lookup, argument check, breaker, concurrency cap, deadline,
progress, cancellation, metrics and audit as a client of ``/mcp``. What is the step's own stays
here: the hash of the tool's schema recorded with the step (so a changed tool is visible), and the
path's errors turned into the failure kinds that retry policies name (``corral.calls.failures``).

A tool that its server runs as an MCP task is called as one when the step gives a ``TaskSlot``:
the task's id is checkpointed as soon as the server hands it out, and a step that has an id
re-attaches to the task instead of calling the tool again.

The reserved server name ``corral`` stands for the hub itself: its tools are *hub actions*
(restart a server, wait until it is healthy, ...) offered by a ``HubActions`` provider, checked
and counted like any other tool.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol, get_args

import anyio
import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT

from corral.calls.failures import FailureKind, failure_kind
from corral.calls.path import Caller, CallPath, TaskSlot
from corral.calls.results import error_text, tool_result_value
from corral.errors import CorralError, InvalidArguments, TaskLost
from corral.registry.models import RESERVED_NAME
from corral.tasks.dispatcher import TaskDispatcher
from corral.tasks.models import TaskRequest, TaskRetry, TaskState
from corral.workflow.models import StepDefinition

HUB_SERVER = RESERVED_NAME  # the hub's own actions in workflows (see corral.patterns.actions)
SOURCE = "workflow"
CANCEL_WAIT_S = 5.0
"""What the audit log names as the source of a step's call."""


class ToolCallFailed(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class CallUncertain(ToolCallFailed):
    """The call may or may not have taken effect: the server lost the task that was running it."""


@dataclass(frozen=True)
class CallOutcome:
    result: Any
    schema_hash: str


class HubActions(Protocol):
    """Tools the hub itself offers to workflows, as ``corral__<action>``."""

    def definition(self, action: str) -> types.Tool | None: ...

    async def call(
        self, action: str, arguments: dict[str, Any], *, caller: StepCalls, meta: dict[str, Any], actor: str
    ) -> Any:
        """Raises: ToolCallFailed."""
        ...


def schema_hash(tool: types.Tool | None) -> str:
    if tool is None:
        return ""
    return hashlib.sha256(json.dumps(tool.input_schema, sort_keys=True).encode()).hexdigest()[:16]


class RoutedSlot(Protocol):
    """Where a step keeps the id of the task its routed call runs as, checkpointed."""

    @property
    def routed_task(self) -> str | None: ...

    async def save_routed(self, task_id: str) -> None:
        """Checkpoint the task's id before the step waits for it."""
        ...

    def clear_routed(self) -> None:
        """The task has ended; the step's next attempt makes a new one."""
        ...


class StepCalls:
    def __init__(self, path: CallPath, actions: HubActions | None = None) -> None:
        self._path = path
        self._actions = actions
        self.tasks: TaskDispatcher | None = None
        """Routes the steps that run as tasks (set once the hub has a dispatcher)."""

    def is_hub(self, server: str) -> bool:
        """Whether ``server`` names the hub's own actions rather than a supervised server."""
        return server == HUB_SERVER and self._actions is not None

    def definition(self, server: str, tool: str) -> types.Tool | None:
        if self._actions is not None and self.is_hub(server):
            return self._actions.definition(tool)
        return self._path.definition(server, tool)

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float | None,
        meta: dict[str, Any],
        progress: ProgressFnT | None,
        actor: str,
        task: TaskSlot | None = None,
    ) -> CallOutcome:
        """Call the tool; as a task when ``task`` is given and the server runs the tool as one.

        Raises: ToolCallFailed, with the kind of failure that retry policies name; CallUncertain
        when the server lost the task.
        """
        if self._actions is not None and self.is_hub(server):
            return await self._call_action(self._actions, tool, arguments, timeout_s, meta, actor)
        caller = Caller(actor=actor, source=SOURCE, progress=progress, meta=meta)
        try:
            result = await self._path.call(server, tool, arguments, caller, timeout_s=timeout_s, task=task)
        except TaskLost as exc:
            raise CallUncertain("upstream_error", exc.message) from exc
        except CorralError as exc:
            raise ToolCallFailed(failure_kind(exc), exc.message) from exc
        if result.is_error:
            raise ToolCallFailed("tool_error", f"{server}__{tool} returned an error: {error_text(result)}")
        return CallOutcome(tool_result_value(result), schema_hash(self._path.definition(server, tool)))

    async def call_routed(
        self,
        step: StepDefinition,
        arguments: dict[str, Any],
        *,
        target_machines: tuple[str, ...],
        slot: RoutedSlot,
        actor: str,
    ) -> CallOutcome:
        """Run the step's call as a task that routing places on an agent (its capability, the target
        machines), and wait for it; after a restart, wait for the task already made instead.

        Raises: ToolCallFailed, with the kind of the task's failure.
        """
        if self.tasks is None:
            raise ToolCallFailed("unavailable", "this hub routes no tasks")
        task_id = slot.routed_task
        if task_id is None:
            request = TaskRequest(
                tool=step.tool if step.server is None else f"{step.server}__{step.tool}",
                capability=step.capability,
                arguments=arguments,
                timeout_s=step.timeout,
                target_machines=target_machines,
                retry=TaskRetry(attempts=1),  # the step's own retry policy runs it again
                on_uncertain=step.on_uncertain,
            )
            try:
                task_id = (await self.tasks.submit(request, actor=actor)).id
            except CorralError as exc:
                raise ToolCallFailed(failure_kind(exc), exc.message) from exc
            await slot.save_routed(task_id)
        try:
            task = await self.tasks.settled(task_id)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WAIT_S):
                await self._cancel_routed(task_id, actor)
            raise
        slot.clear_routed()
        if task.state is TaskState.COMPLETED:
            server = self.tasks.agents.server_of(task.agent) if task.agent else ""
            return CallOutcome(task.result, schema_hash(self._path.definition(server, step.tool or "")))
        raise ToolCallFailed(_kind(task.failure), f"task {task.id} {task.state.value}: {task.error}")

    async def _cancel_routed(self, task_id: str, actor: str) -> None:
        assert self.tasks is not None
        try:
            await self.tasks.cancel(task_id, actor=actor)
        except CorralError:
            pass  # it ended meanwhile

    async def cancel_task(self, server: str, task_id: str) -> None:
        """Ask ``server`` to cancel a task a step started (bounded; failures are logged, not raised)."""
        await self._path.cancel_task(server, task_id)

    async def _call_action(
        self,
        actions: HubActions,
        action: str,
        arguments: dict[str, Any],
        timeout_s: float | None,
        meta: dict[str, Any],
        actor: str,
    ) -> CallOutcome:
        """Raises: ToolCallFailed."""
        started = time.perf_counter()
        outcome, listed = "ok", True
        label = f"{HUB_SERVER}__{action}"
        try:
            definition = actions.definition(action)
            if definition is None:
                outcome, listed = "unknown_tool", False
                raise ToolCallFailed("invalid_arguments", f"the hub has no action {action!r}")
            try:
                self._path.check_arguments(definition, arguments, label)
                with anyio.fail_after(timeout_s):
                    result = await actions.call(action, arguments, caller=self, meta=meta, actor=actor)
            except InvalidArguments as exc:
                outcome = exc.code
                raise ToolCallFailed("invalid_arguments", exc.message) from exc
            except TimeoutError as exc:
                outcome = "timeout"
                raise ToolCallFailed("timeout", f"{label} took longer than {timeout_s}s") from exc
            except ToolCallFailed as failure:
                outcome = failure.kind
                raise
            return CallOutcome(result, schema_hash(definition))
        finally:
            caller = Caller(actor=actor, source=SOURCE)
            self._path.account(
                caller, HUB_SERVER, action, outcome, time.perf_counter() - started, listed=listed
            )


def _kind(failure: str | None) -> FailureKind:
    """A task's recorded failure as a kind retry policies name (a cancelled task's: upstream_error)."""
    return next((kind for kind in get_args(FailureKind) if kind == failure), "upstream_error")
