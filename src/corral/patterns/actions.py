"""Hub actions: what a workflow can ask of the hub itself, as tools of the reserved server ``corral``.

``corral__restart_server``, ``corral__wait_healthy``, ``corral__list_tools``,
``corral__call_tool``, ``corral__assert`` and ``corral__sleep``. Each has an input schema (checked
by ``StepCalls`` before the call, like any tool's) and annotations (which decide
what happens to a step in flight at a crash). They drive servers through their
runners and wait on the event bus, never by polling. A failure is a
``ToolCallFailed`` with the kind retry policies name.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp import MCPError
from pydantic import BaseModel, Field, ValidationError

from corral import strict
from corral.errors import CircuitOpen, NotFound, Unavailable
from corral.events.bus import EventBus
from corral.patterns.samples import minimal_arguments
from corral.strict import StrictModel
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor
from corral.workflow.step_calls import HUB_SERVER, StepCalls, ToolCallFailed

DEFAULT_TIMEOUT_S = 30.0


class RestartServerInput(StrictModel):
    name: str = Field(description="The server to restart.")
    wait: bool = Field(True, description="Wait until it serves again; fail when it does not in time.")
    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=3600, description="How long to wait, in seconds.")


class WaitHealthyInput(StrictModel):
    name: str = Field(description="The server.")
    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=3600, description="How long to wait, in seconds.")


class ListToolsInput(StrictModel):
    name: str = Field(description="The server.")
    read_only: bool = Field(False, description="Only tools annotated readOnlyHint.")
    refresh: bool = Field(False, description="Ask the server for its tools now (proves it answers).")


class CallToolInput(StrictModel):
    server: str = Field(description="The server whose tool to call.")
    tool: str = Field(description="The tool's name on that server.")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")
    timeout_s: float | None = Field(None, gt=0, description="Deadline of the call, in seconds.")
    capture_errors: bool = Field(
        False, description="Return the outcome (ok, answered, error) instead of failing the step."
    )


class AssertInput(StrictModel):
    that: bool = Field(description="The condition, usually a {{ expression }} over earlier steps.")
    message: str = Field("assertion failed", description="Why the step fails when the condition is false.")


class SleepInput(StrictModel):
    seconds: float = Field(ge=0, le=86_400, description="How long to wait.")


Handler = Callable[[Any, StepCalls, dict[str, Any], str], Awaitable[Any]]
READ_ONLY = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True)
_SPECS: dict[str, tuple[str, type[BaseModel], types.ToolAnnotations]] = {
    "restart_server": (
        "Restart a server (an operator's restart: the circuit starts afresh); with wait, until it serves.",
        RestartServerInput,
        types.ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    ),
    "wait_healthy": ("Wait until a server serves (healthy or degraded).", WaitHealthyInput, READ_ONLY),
    "list_tools": (
        "A server's tools, with annotations and minimal sample arguments from each input schema.",
        ListToolsInput,
        READ_ONLY,
    ),
    "call_tool": (
        "Call a server's tool through the hub, by names given at run time.",
        CallToolInput,
        types.ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    ),
    "assert": ("Fail the step with a message unless a condition holds.", AssertInput, READ_ONLY),
    "sleep": (
        "Wait a number of seconds (a step in flight at a crash waits again in full).",
        SleepInput,
        READ_ONLY,
    ),
}
ACTIONS: dict[str, types.Tool] = {
    name: types.Tool(
        name=name,
        description=description,
        input_schema=model.model_json_schema(),
        annotations=annotations,
    )
    for name, (description, model, annotations) in _SPECS.items()
}


class ServerActions:
    """The hub actions, bound to the supervisor whose servers they act on (a ``HubActions``)."""

    def __init__(self, supervisor: Supervisor, bus: EventBus) -> None:
        self._supervisor = supervisor
        self._bus = bus
        self._handlers: dict[str, Handler] = {
            "restart_server": self._restart_server,
            "wait_healthy": self._wait_healthy,
            "list_tools": self._list_tools,
            "call_tool": self._call_tool,
            "assert": self._assert,
            "sleep": self._sleep,
        }

    def definition(self, action: str) -> types.Tool | None:
        return ACTIONS.get(action)

    async def call(
        self, action: str, arguments: dict[str, Any], *, caller: StepCalls, meta: dict[str, Any], actor: str
    ) -> Any:
        """Raises: ToolCallFailed."""
        model = _SPECS[action][1]
        try:
            request = model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolCallFailed(
                "invalid_arguments", str(strict.invalid_input(exc, what=f"{HUB_SERVER}__{action}"))
            ) from exc
        return await self._handlers[action](request, caller, meta, actor)

    # -- actions --------------------------------------------------------------------------------

    async def _restart_server(
        self, request: RestartServerInput, _: StepCalls, __: dict[str, Any], ___: str
    ) -> dict[str, Any]:
        runner = self._runner(request.name)
        if not runner.spec.enabled:
            raise ToolCallFailed(
                "unavailable", f"server {request.name!r} is disabled; enable it to restart it"
            )
        started = time.monotonic()
        state = runner.state
        previous_pid, restarts, recovered_at = state.pid, state.restarts, state.last_recovery_at
        runner.request_restart()
        began = await self._until(
            lambda: state.restarts > restarts or state.last_recovery_at != recovered_at, request.timeout_s
        )
        if not began:
            raise ToolCallFailed(
                "timeout", f"server {request.name!r} did not begin restarting within {request.timeout_s:g}s"
            )
        if request.wait:
            remaining = max(0.0, request.timeout_s - (time.monotonic() - started))
            await self._wait_serving(runner, remaining, request.timeout_s)
        return {**_state(runner), "previous_pid": previous_pid}

    async def _wait_healthy(
        self, request: WaitHealthyInput, _: StepCalls, __: dict[str, Any], ___: str
    ) -> dict[str, Any]:
        runner = self._runner(request.name)
        await self._wait_serving(runner, request.timeout_s, request.timeout_s)
        return _state(runner)

    async def _list_tools(
        self, request: ListToolsInput, _: StepCalls, __: dict[str, Any], ___: str
    ) -> dict[str, Any]:
        runner = self._runner(request.name)
        if request.refresh:
            try:
                await runner.wait_ready()
                await runner.refresh_catalog()
            except (CircuitOpen, Unavailable) as exc:
                raise ToolCallFailed("unavailable", exc.message) from exc
            except (MCPError, TimeoutError, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                raise ToolCallFailed(
                    "upstream_error", f"server {request.name!r} did not list its tools: {exc!r}"
                ) from exc
        tools = [
            _describe(tool)
            for tool in runner.state.catalog.tools
            if not request.read_only or (tool.annotations is not None and tool.annotations.read_only_hint)
        ]
        return {"server": request.name, "status": runner.state.status.value, "tools": tools}

    async def _call_tool(
        self, request: CallToolInput, caller: StepCalls, meta: dict[str, Any], actor: str
    ) -> Any:
        if caller.is_hub(request.server):
            raise ToolCallFailed(
                "invalid_arguments", f"{HUB_SERVER}__call_tool calls servers' tools, not the hub's"
            )
        started = time.perf_counter()
        summary = {"server": request.server, "tool": request.tool}
        try:
            outcome = await caller.call(
                request.server,
                request.tool,
                request.args,
                timeout_s=request.timeout_s,
                meta=meta,
                progress=None,
                actor=actor,
            )
        except ToolCallFailed as failure:
            if not request.capture_errors:
                raise
            return {
                **summary,
                "ok": False,
                # A tool error is an answer: the server is up and judged the (made-up) arguments.
                "answered": failure.kind == "tool_error",
                "outcome": failure.kind,
                "error": failure.message,
                "duration_ms": _since(started),
            }
        if not request.capture_errors:
            return outcome.result
        return {
            **summary,
            "ok": True,
            "answered": True,
            "outcome": "ok",
            "result": outcome.result,
            "duration_ms": _since(started),
        }

    async def _assert(
        self, request: AssertInput, _: StepCalls, __: dict[str, Any], ___: str
    ) -> dict[str, Any]:
        if not request.that:
            raise ToolCallFailed("tool_error", request.message)
        return {"passed": True}

    async def _sleep(self, request: SleepInput, _: StepCalls, __: dict[str, Any], ___: str) -> dict[str, Any]:
        await anyio.sleep(request.seconds)
        return {"slept_s": request.seconds}

    # -- waiting ----------------------------------------------------------------------------------

    def _runner(self, name: str) -> ServerRunner:
        try:
            return self._supervisor.runner(name)
        except NotFound as exc:
            raise ToolCallFailed("invalid_arguments", exc.message) from exc

    async def _wait_serving(self, runner: ServerRunner, timeout_s: float, total_s: float) -> None:
        if not await self._until(lambda: runner.state.status.serving, timeout_s):
            state = runner.state
            detail = f"{state.status.value}" + (f" ({state.detail})" if state.detail else "")
            last_error = f"; last error: {state.last_error}" if state.last_error else ""
            raise ToolCallFailed(
                "timeout",
                f"server {runner.spec.name!r} did not serve within {total_s:g}s: it is {detail}{last_error}",
            )

    async def _until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``condition`` holds, re-checking at every event on the bus; False after ``timeout_s``.

        Runners publish every change of a server's status, so no change goes unseen.
        """
        with anyio.move_on_after(timeout_s):
            while True:
                async with self._bus.subscribe() as events:
                    try:
                        while not condition():
                            await events.receive()
                        return True
                    except anyio.EndOfStream:
                        continue  # this subscriber was cut off as slow; subscribe again
        return condition()


def _state(runner: ServerRunner) -> dict[str, Any]:
    state = runner.state
    return {
        "name": runner.spec.name,
        "status": state.status.value,
        "pid": state.pid,
        "restarts": state.restarts,
        "tools": len(state.catalog.tools),
    }


def _describe(tool: types.Tool) -> dict[str, Any]:
    hints = tool.annotations
    return {
        "name": tool.name,
        "description": tool.description or "",
        "read_only": bool(hints and hints.read_only_hint),
        "destructive": None if hints is None else hints.destructive_hint,
        "idempotent": None if hints is None else hints.idempotent_hint,
        "sample_arguments": minimal_arguments(tool.input_schema),
    }


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
