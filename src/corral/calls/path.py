"""The one path of a tool call through the hub, whoever makes it: ``/mcp``, ``/servers/{name}/mcp``,
REST, a workflow step or a task.

On it, once: the caller's role, the tool's definition (asking a server that is starting or idle to
come up first), the arguments against its ``inputSchema``, the call through the server's runner
(breaker, concurrency cap, deadline, progress, cancellation) — as an MCP task when the caller keeps
a ``TaskSlot`` and the server runs the tool as one — and the accounting: every outcome counted and
audited the same way. Callers keep only what is theirs: turning the path's errors into MCP tool
errors, REST problems or a step's failure kinds, and finding which server a name means.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT

from corral.audit.log import AuditLog
from corral.audit.models import AuditEntry
from corral.auth.principal import Principal, Role
from corral.calls import mcp_tasks
from corral.calls.arguments import ArgumentChecker
from corral.calls.metrics import CallMetrics
from corral.clock import Clock
from corral.errors import (
    CorralError,
    Forbidden,
    InvalidArguments,
    NotFound,
    TaskLost,
    UnknownTool,
    UpstreamTimeout,
)
from corral.observability import logcontext
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor
from corral.upstream.peer import Peer

UNKNOWN_TOOL = "(unknown)"
"""The tool label of calls to names no tool has, in the call metrics: callers choose those names, and
the metrics must not grow with them (the audit log keeps the name)."""
READY_TIMEOUT_S = 5.0
"""How long a call to a tool the server does not list (yet) waits for the server to come up and
list it again before the name counts as unknown."""
CANCELLED = "cancelled"
"""The outcome of a call its caller cancelled, in the call metrics and the audit log."""
AUDITED_ARGUMENTS_BYTES = 8192
"""A call's arguments up to this size (as JSON) are kept in its audit entry; larger ones only by size."""


def _no_session(_: ServerRunner) -> object:
    return None


@dataclass(frozen=True)
class Caller:
    """Who asks for a tool call, and how the upstream reaches them back during it.

    ``principal`` None is a caller the hub already trusts: the person who started it on stdio, a
    workflow or a task (authorized when it was started). ``actor`` and ``source`` are what the audit
    log records. A caller without a downstream MCP connection (REST, a workflow) has no ``peer``
    and shares each server's session.
    """

    actor: str
    source: str
    principal: Principal | None = None
    peer: Peer | None = None
    progress: ProgressFnT | None = None
    meta: dict[str, Any] | None = None
    session_for: Callable[[ServerRunner], object] = _no_session


class TaskSlot(Protocol):
    """Where a caller keeps the id of the upstream MCP task running its call, durably."""

    @property
    def task_id(self) -> str | None: ...

    async def save(self, server: str, task_id: str) -> None:
        """Keep the id the server handed out, before the call waits for the task."""
        ...

    def clear(self) -> None:
        """The task is over; it need not be kept any longer."""
        ...


class CallPath:
    def __init__(
        self,
        supervisor: Supervisor,
        metrics: CallMetrics,
        audit: AuditLog,
        clock: Clock,
        *,
        viewers_may_call_tools: bool = False,
        audit_arguments: bool = True,
    ) -> None:
        self._supervisor = supervisor
        self.metrics = metrics
        self._audit = audit
        self._clock = clock
        self._viewers_may_call = viewers_may_call_tools
        self._audit_arguments = audit_arguments
        self._arguments = ArgumentChecker()

    def definition(self, server: str, tool: str) -> types.Tool | None:
        """The tool as its server last listed it; None when the server or the tool is unknown."""
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return None
        return runner.state.catalog.tool(tool)

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        caller: Caller,
        *,
        label: str | None = None,
        timeout_s: float | None = None,
        task: TaskSlot | None = None,
    ) -> types.CallToolResult:
        """Call ``tool`` of ``server`` for ``caller``; ``label`` is the name the caller used for it
        (``server__tool`` by default), which errors name.

        A tool that fails on its own answers with ``isError`` set; that is a result, not an exception.

        Raises:
            Forbidden: the caller's role may not call tools.
            UnknownTool: the server does not offer the tool (or there is no such server).
            InvalidArguments: the arguments do not fit the tool's ``inputSchema``.
            Unavailable, CircuitOpen, UpstreamError, UpstreamTimeout: as the server's runner raises them.
            TaskLost: the server no longer knows the task in ``task``; the call may have taken effect.
        """
        started = time.perf_counter()
        label = label or f"{server}__{tool}"
        outcome = "ok"
        listed = True
        try:
            self.authorize(caller, Role.VIEWER, label)
            runner = self._supervisor.runner(server)
            definition = runner.state.catalog.tool(tool) or await self._listed_once_ready(runner, tool)
            if definition is None:
                listed = False
                raise UnknownTool(f"Unknown tool: {label}")
            problem = self._arguments.check(definition, arguments)
            if problem is not None:
                raise InvalidArguments(f"invalid arguments for {label}: {problem}")
            with logcontext.bound(server=server, tool=tool):
                if task is not None and (
                    task.task_id is not None or mcp_tasks.runs_as_task(runner, definition)
                ):
                    result = await _call_as_task(runner, tool, arguments, caller, timeout_s, task)
                else:
                    result = await runner.call_tool(
                        tool,
                        arguments,
                        timeout_s=timeout_s,
                        progress=caller.progress,
                        meta=caller.meta,
                        peer=caller.peer,
                        session_key=caller.session_for(runner),
                    )
            outcome = "tool_error" if result.is_error else "ok"
            return result
        except UnknownTool as exc:
            outcome, listed = exc.code, False
            raise
        except NotFound as exc:  # no server of that name
            outcome, listed = UnknownTool.code, False
            raise UnknownTool(f"Unknown tool: {label}") from exc
        except CorralError as exc:
            outcome = exc.code
            raise
        except anyio.get_cancelled_exc_class():
            outcome = CANCELLED  # the caller gave up (notifications/cancelled, a closed connection)
            raise
        finally:
            seconds = time.perf_counter() - started
            self.account(caller, server, tool, outcome, seconds, listed=listed, arguments=arguments)

    def check_arguments(self, definition: types.Tool, arguments: dict[str, Any], label: str) -> None:
        """Raises: InvalidArguments, naming the field and what is wrong with it."""
        problem = self._arguments.check(definition, arguments)
        if problem is not None:
            raise InvalidArguments(f"invalid arguments for {label}: {problem}")

    def authorize(self, caller: Caller, needed: Role, label: str) -> None:
        """Let the call through if the caller's role may make it; viewers call nothing unless allowed.

        Raises: Forbidden, naming the role needed and the caller's.
        """
        principal = caller.principal
        if principal is None:
            return
        if not self._viewers_may_call and needed.rank < Role.OPERATOR.rank:
            needed = Role.OPERATOR
        if principal.may(needed):
            return
        viewer_refused = principal.role is Role.VIEWER and not self._viewers_may_call
        hint = " (viewers may list tools but not call them)" if viewer_refused else ""
        raise Forbidden(
            f"calling {label} needs the {needed} role; {principal.name} has the {principal.role} role{hint}",
            role=principal.role.value,
            required_role=needed.value,
        )

    def account(
        self,
        caller: Caller,
        server: str,
        tool: str,
        outcome: str,
        seconds: float,
        *,
        listed: bool = True,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        """Count the call and audit it; a name no tool has (``listed=False``) is counted as server ``-``,
        tool ``UNKNOWN_TOOL`` (the audit entry keeps the name). The entry keeps the ``arguments`` when
        given, small enough and auditing them is on, so a caller's recent calls can be made again."""
        if listed:
            self.metrics.record(server, tool, outcome, seconds)
        else:
            self.metrics.record("-", UNKNOWN_TOOL, outcome, seconds)
        self._audit.record(
            AuditEntry(
                time=self._clock.now(),
                actor=caller.actor,
                action="tool.call",
                target=f"{server}/{tool}",
                outcome=outcome,
                source=caller.source,
                duration_ms=round(seconds * 1000, 3),
                detail=audited_arguments(arguments if self._audit_arguments else None),
            )
        )

    async def cancel_task(self, server: str, task_id: str) -> None:
        """Ask ``server`` to cancel an MCP task a call started (bounded; failures are logged, not raised)."""
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return
        await mcp_tasks.cancel(runner, task_id)

    async def definition_when_ready(self, server: str, tool: str) -> types.Tool | None:
        """The tool's definition, once its server is up and has listed its tools; None when the server
        or the tool is unknown.

        Raises: Unavailable, CircuitOpen — the server cannot come up now.
        """
        try:
            runner = self._supervisor.runner(server)
        except NotFound:
            return None
        return runner.state.catalog.tool(tool) or await self._listed_once_ready(runner, tool)

    async def _listed_once_ready(self, runner: ServerRunner, tool: str) -> types.Tool | None:
        """A server that is starting, idle or just changed its tools may list ``tool`` once it is up.

        Raises: Unavailable, CircuitOpen — the server cannot come up now.
        """
        await runner.wait_ready()
        if runner.state.catalog.tool(tool) is None:
            with anyio.move_on_after(READY_TIMEOUT_S):
                await runner.refresh_catalog()
        return runner.state.catalog.tool(tool)


async def _call_as_task(
    runner: ServerRunner,
    tool: str,
    arguments: dict[str, Any],
    caller: Caller,
    timeout_s: float | None,
    slot: TaskSlot,
) -> types.CallToolResult:
    """Start the task (or take the one in ``slot``) and wait for its result.

    Raises: TaskLost, UpstreamTimeout and the runner's errors; the slot keeps the task only when it
    may still be running (the connection failed, the server is down).
    """
    deadline = runner.call_deadline(tool, timeout_s)
    task_id = slot.task_id
    if task_id is None:
        task_id = await mcp_tasks.start(runner, tool, arguments, meta=caller.meta or {}, timeout_s=deadline)
        await slot.save(runner.spec.name, task_id)
    try:
        with logcontext.bound(task=task_id):
            result = await mcp_tasks.follow(runner, task_id, label=tool, timeout_s=deadline)
    except (TaskLost, UpstreamTimeout):
        slot.clear()
        raise
    slot.clear()
    return result


def audited_arguments(arguments: dict[str, Any] | None) -> dict[str, Any]:
    """What an audit entry keeps of a call's arguments: all of them up to ``AUDITED_ARGUMENTS_BYTES`` of
    JSON, else only their size (the log must not grow with what callers send)."""
    if arguments is None:
        return {}
    size = len(json.dumps(arguments, separators=(",", ":"), default=str).encode())
    if size > AUDITED_ARGUMENTS_BYTES:
        return {"arguments_bytes": size}
    return {"arguments": arguments}
