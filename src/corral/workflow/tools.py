"""How a workflow step calls a tool: through the server's runner, like the gateway does.

So steps get the same breaker, concurrency cap, deadline, progress and
cancellation as any MCP client of the hub. Arguments are checked against the
tool's ``inputSchema`` before the call (a clear step error, not an upstream
failure), and the hash of that schema is recorded with the step so a changed
tool is visible. Every call is counted and audited.

A tool that its server runs as an MCP task is called as one when the step gives a ``TaskSlot``:
the task's id is checkpointed as soon as the server hands it out, and a step that has an id
re-attaches to the task instead of calling the tool again.

The reserved server name ``corral`` stands for the hub itself: its tools are
*hub actions* (restart a server, wait until it is healthy, ...) offered by a
``HubActions`` provider, checked and counted like any other tool.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT

from corral.audit.log import AuditLog
from corral.audit.models import AuditEntry
from corral.calls.arguments import ArgumentChecker
from corral.calls.metrics import CallMetrics
from corral.clock import Clock
from corral.errors import CircuitOpen, CorralError, NotFound, TaskLost, Unavailable, UpstreamTimeout
from corral.observability import logcontext
from corral.registry.models import RESERVED_NAME
from corral.supervisor import tasks
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor
from corral.workflow.results import tool_result_value

FailureKind = Literal["tool_error", "timeout", "unavailable", "upstream_error", "invalid_arguments"]
HUB_SERVER = RESERVED_NAME  # the hub's own actions in workflows (see corral.patterns.actions)


class ToolCallFailed(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class CallUncertain(ToolCallFailed):
    """The call may or may not have taken effect: the server lost the task that was running it."""


class TaskSlot(Protocol):
    """Where a step keeps the id of the upstream task running its call, checkpointed."""

    @property
    def task_id(self) -> str | None: ...

    async def save(self, server: str, task_id: str) -> None:
        """Checkpoint the id the server handed out, before waiting for the task."""
        ...

    def clear(self) -> None:
        """The task is over; the step's next checkpoint no longer holds it."""
        ...


@dataclass(frozen=True)
class CallOutcome:
    result: Any
    schema_hash: str


class HubActions(Protocol):
    """Tools the hub itself offers to workflows, as ``corral__<action>``."""

    def definition(self, action: str) -> types.Tool | None: ...

    async def call(
        self, action: str, arguments: dict[str, Any], *, caller: ToolCall, meta: dict[str, Any], actor: str
    ) -> Any:
        """Raises: ToolCallFailed."""
        ...


def schema_hash(tool: types.Tool) -> str:
    return hashlib.sha256(json.dumps(tool.input_schema, sort_keys=True).encode()).hexdigest()[:16]


class ToolCall:
    def __init__(
        self,
        supervisor: Supervisor,
        metrics: CallMetrics,
        audit: AuditLog,
        clock: Clock,
        actions: HubActions | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._metrics = metrics
        self._audit = audit
        self._clock = clock
        self._checker = ArgumentChecker()
        self._actions = actions

    def is_hub(self, server: str) -> bool:
        """Whether ``server`` names the hub's own actions rather than a supervised server."""
        return server == HUB_SERVER and self._actions is not None

    def definition(self, server: str, tool: str) -> types.Tool | None:
        if self._actions is not None and self.is_hub(server):
            return self._actions.definition(tool)
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return None
        return next((item for item in runner.state.catalog.tools if item.name == tool), None)

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
        started = time.perf_counter()
        outcome = "ok"
        try:
            try:
                await self._supervisor.runner(server).wait_ready()
            except (CircuitOpen, Unavailable, NotFound) as exc:
                outcome = exc.code
                raise ToolCallFailed("unavailable", exc.message) from exc
            definition = self.definition(server, tool)
            if definition is None:
                outcome = "unknown_tool"
                raise ToolCallFailed("unavailable", f"server {server!r} offers no tool {tool!r} (now)")
            problem = self._checker.check(definition, arguments)
            if problem is not None:
                outcome = "invalid_arguments"
                raise ToolCallFailed(
                    "invalid_arguments", f"invalid arguments for {server}__{tool}: {problem}"
                )
            runner = self._supervisor.runner(server)
            try:
                if task is not None and (task.task_id is not None or tasks.runs_as_task(runner, definition)):
                    result = await self._call_as_task(runner, tool, arguments, timeout_s, meta, task)
                else:
                    result = await runner.call_tool(
                        tool, arguments, timeout_s=timeout_s, progress=progress, meta=meta
                    )
            except TaskLost as exc:
                outcome = exc.code
                raise CallUncertain("upstream_error", exc.message) from exc
            except UpstreamTimeout as exc:
                outcome = exc.code
                raise ToolCallFailed("timeout", exc.message) from exc
            except (CircuitOpen, Unavailable, NotFound) as exc:
                outcome = exc.code
                raise ToolCallFailed("unavailable", exc.message) from exc
            except CorralError as exc:
                outcome = exc.code
                raise ToolCallFailed("upstream_error", exc.message) from exc
            if result.is_error:
                outcome = "tool_error"
                text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
                raise ToolCallFailed("tool_error", f"{server}__{tool} returned an error: {text[:500]}")
            return CallOutcome(tool_result_value(result), schema_hash(definition))
        finally:
            self._record(server, tool, outcome, started, actor)

    async def _call_as_task(
        self,
        runner: ServerRunner,
        tool: str,
        arguments: dict[str, Any],
        timeout_s: float | None,
        meta: dict[str, Any],
        slot: TaskSlot,
    ) -> types.CallToolResult:
        """Start the task (or take the one in ``slot``) and wait for its result.

        Raises: TaskLost, UpstreamTimeout and the runner's errors; the slot keeps the task
        only when it may still be running (the connection failed, the server is down).
        """
        deadline = runner.call_deadline(tool, timeout_s)
        task_id = slot.task_id
        if task_id is None:
            task_id = await tasks.start(runner, tool, arguments, meta=meta, timeout_s=deadline)
            await slot.save(runner.spec.name, task_id)
        try:
            with logcontext.bound(task=task_id):
                result = await tasks.follow(runner, task_id, label=tool, timeout_s=deadline)
        except (TaskLost, UpstreamTimeout):
            slot.clear()
            raise
        slot.clear()
        return result

    async def cancel_task(self, server: str, task_id: str) -> None:
        """Ask ``server`` to cancel a task a step started (bounded; failures are logged, not raised)."""
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return
        await tasks.cancel(runner, task_id)

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
        outcome = "ok"
        try:
            definition = actions.definition(action)
            if definition is None:
                outcome = "unknown_tool"
                raise ToolCallFailed("invalid_arguments", f"the hub has no action {action!r}")
            problem = self._checker.check(definition, arguments)
            if problem is not None:
                outcome = "invalid_arguments"
                raise ToolCallFailed(
                    "invalid_arguments", f"invalid arguments for {HUB_SERVER}__{action}: {problem}"
                )
            try:
                with anyio.fail_after(timeout_s):
                    result = await actions.call(action, arguments, caller=self, meta=meta, actor=actor)
            except TimeoutError as exc:
                outcome = "timeout"
                raise ToolCallFailed(
                    "timeout", f"{HUB_SERVER}__{action} took longer than {timeout_s}s"
                ) from exc
            except ToolCallFailed as failure:
                outcome = failure.kind
                raise
            return CallOutcome(result, schema_hash(definition))
        finally:
            self._record(HUB_SERVER, action, outcome, started, actor)

    def _record(self, server: str, tool: str, outcome: str, started: float, actor: str) -> None:
        seconds = time.perf_counter() - started
        self._metrics.record(server, tool, outcome, seconds)
        self._audit.record(
            AuditEntry(
                time=self._clock.now(),
                actor=actor,
                action="tool.call",
                target=f"{server}/{tool}",
                outcome=outcome,
                source="workflow",
                duration_ms=round(seconds * 1000, 3),
            )  # fmt: skip
        )
