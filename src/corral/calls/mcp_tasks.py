"""Calling a tool as an MCP task (protocol 2025-11-25 ``tasks``) and following a task to its end.

A task outlives the session that created it: whoever keeps its id can come back to it from another
session, after the hub restarted, with ``follow``, instead of calling the tool again. Every request
goes through the server's runner, so tasks get the breaker, concurrency cap and deadlines of any call.
What to do with the id (checkpoint it, re-attach) is the caller's business.
"""

from __future__ import annotations

import logging

import anyio
import mcp_types as types

from corral.errors import CorralError, UpstreamTimeout
from corral.supervisor.runner import ServerRunner

logger = logging.getLogger(__name__)

RETAIN_S = 3600.0  # how long past the call's deadline the server is asked to keep the task
POLL_DEFAULT_S = 1.0
POLL_MIN_S = 0.05
POLL_MAX_S = 5.0
CANCEL_WAIT_S = 5.0
_DONE = ("completed", "failed", "cancelled", "input_required")  # input_required: tasks/result drives it


def runs_as_task(runner: ServerRunner, tool: types.Tool) -> bool:
    """Whether ``tool`` is called as a task: its server offers task-augmented calls, the tool takes them."""
    support = tool.execution.task_support if tool.execution is not None else None
    return runner.offers_tool_tasks and support in ("optional", "required")


async def start(
    runner: ServerRunner,
    tool: str,
    arguments: dict[str, object] | None,
    *,
    meta: dict[str, object],
    timeout_s: float,
) -> str:
    """Ask the server to run ``tool`` as a task; returns the task's id at once.

    Raises: as ``ServerRunner.request``.
    """
    params = types.CallToolRequestParams(
        name=tool,
        arguments=arguments,
        task=types.TaskMetadata(ttl=round((timeout_s + RETAIN_S) * 1000)),
        _meta=meta,
    )
    created = await runner.request(
        types.CallToolRequest(params=params), types.CreateTaskResult, label=tool, timeout_s=timeout_s
    )
    logger.info("server %s runs %s as task %s", runner.spec.name, tool, created.task.task_id)
    return created.task.task_id


async def follow(runner: ServerRunner, task_id: str, *, label: str, timeout_s: float) -> types.CallToolResult:
    """Poll the task until it ends and return the call's result; past ``timeout_s`` the task is cancelled.

    A task cancelled on the server's side comes back as an error result.

    Raises:
        TaskLost: the server does not know the task (it restarted, or the task expired).
        UpstreamTimeout: the task did not end within ``timeout_s``; it was asked to cancel.
        and as ``ServerRunner.request``.
    """
    get = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id))
    with anyio.move_on_after(timeout_s):
        task = await runner.request(get, types.GetTaskResult, label=f"{label} (task)", timeout_s=timeout_s)
        while task.status not in _DONE:
            await anyio.sleep(_poll_seconds(task))
            task = await runner.request(
                get, types.GetTaskResult, label=f"{label} (task)", timeout_s=timeout_s
            )
        if task.status == "cancelled":
            why = f": {task.status_message}" if task.status_message else ""
            message = f"task {task_id} was cancelled by server {runner.spec.name!r}{why}"
            return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
        payload = types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id))
        return await runner.request(
            payload, types.CallToolResult, label=f"{label} (result)", timeout_s=timeout_s
        )
    await cancel(runner, task_id)
    raise UpstreamTimeout(
        f"task {task_id} of server {runner.spec.name!r} ({label!r}) did not end within {timeout_s:g}s; "
        "it was asked to cancel",
        server=runner.spec.name,
    )


async def cancel(runner: ServerRunner, task_id: str) -> None:
    """Ask the server to cancel the task: bounded, shielded from the caller's cancellation, never raises."""
    request = types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task_id))
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WAIT_S):
        try:
            await runner.request(
                request, types.CancelTaskResult, label="tasks/cancel", timeout_s=CANCEL_WAIT_S
            )
        except CorralError as exc:
            logger.info("server %s did not cancel task %s: %s", runner.spec.name, task_id, exc.message)


def _poll_seconds(task: types.GetTaskResult) -> float:
    if task.poll_interval is None:
        return POLL_DEFAULT_S
    return min(POLL_MAX_S, max(POLL_MIN_S, task.poll_interval / 1000))
