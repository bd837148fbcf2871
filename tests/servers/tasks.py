"""Task server: an MCP server whose tool runs as an MCP task (protocol 2025-11-25 ``tasks``).

The SDK's server answers every ``tools/call`` with a ``CallToolResult``, so this one speaks JSON-RPC over
Streamable HTTP itself (plain JSON answers, no SSE): ``initialize`` (advertising ``tasks``), ``ping``,
``tools/list``, ``tools/call`` (with ``params.task`` it answers a ``CreateTaskResult`` at once),
``tasks/get``, ``tasks/result`` (waits for the end), ``tasks/cancel`` and ``tasks/list``. Tasks live in
the process, so they outlive any client's session — and a restarted server knows none of them.

Tool ``provision(name)``: marked destructive and not idempotent, ``execution.taskSupport: optional``.
Its body records ``body_started``, waits until someone POSTs to ``/release`` (once for all bodies of
this process), records ``body_finished`` and returns ``{"provisioned": name}``.

Run: ``python tests/servers/tasks.py --http PORT --record FILE``. Every request and every start of the
body is appended to FILE as a JSON line (``{"event", "task", "pid"}``), flushed and fsynced.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROTOCOL = "2025-11-25"
POLL_INTERVAL_MS = 100
TERMINAL = ("completed", "failed", "cancelled")
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601

TOOL = {
    "name": "provision",
    "description": "Provision a thing; runs as a task until /release is posted",
    "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "annotations": {"destructiveHint": True, "idempotentHint": False, "readOnlyHint": False},
    "execution": {"taskSupport": "optional"},
}


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Job:
    task_id: str
    created_at: str
    ttl: int | None
    status: str = "working"
    message: str | None = None
    updated_at: str = ""
    result: dict[str, Any] | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def view(self) -> dict[str, Any]:
        task: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.updated_at or self.created_at,
            "ttl": self.ttl,
            "pollInterval": POLL_INTERVAL_MS,
        }
        if self.message:
            task["statusMessage"] = self.message
        return task

    def finish(self, status: str, message: str | None = None) -> None:
        if self.status in TERMINAL:
            return
        self.status, self.message, self.updated_at = status, message, _now()
        self.done.set()


class TaskServer:
    def __init__(self, record: Path) -> None:
        self._record = record
        self._jobs: dict[str, Job] = {}
        self._released = anyio.Event()
        self._tg: TaskGroup | None = None

    def log(self, event: str, task: str | None = None, **extra: Any) -> None:
        line = json.dumps({"event": event, "task": task, "pid": os.getpid(), **extra})
        with self._record.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            yield
            tg.cancel_scope.cancel()

    async def release(self, _: Request) -> Response:
        self._released.set()
        return Response(status_code=204)

    async def endpoint(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(status_code=405 if request.method == "GET" else 200)
        message = await request.json()
        if "id" not in message:
            return Response(status_code=202)
        method, params = message["method"], message.get("params") or {}
        try:
            result = await self.handle(method, params)
        except RpcError as exc:
            body = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": exc.code, "message": exc.message},
            }
        else:
            body = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        headers = {"mcp-session-id": uuid.uuid4().hex} if method == "initialize" else {}
        return JSONResponse(body, headers=headers)

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        task_id = params.get("taskId")
        if method.startswith(("tools/call", "tasks/")):
            self.log(method, task_id)
        if method == "initialize":
            return {
                "protocolVersion": PROTOCOL,
                "capabilities": {
                    "tools": {"listChanged": False},
                    "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
                },
                "serverInfo": {"name": "tasks", "version": "1.0.0"},
            }
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": [TOOL]}
        if method == "tools/call":
            return await self.call(params)
        if method == "tasks/list":
            return {"tasks": [job.view() for job in self._jobs.values()]}
        job = self._job(task_id)
        if method == "tasks/get":
            return job.view()
        if method == "tasks/result":
            await job.done.wait()
            if job.result is None:
                raise RpcError(-32603, f"task {job.task_id} {job.status}: {job.message}")
            return {**job.result, "_meta": {"io.modelcontextprotocol/related-task": {"taskId": job.task_id}}}
        if method == "tasks/cancel":
            if job.status in TERMINAL:
                raise RpcError(INVALID_PARAMS, f"task {job.task_id} is already {job.status}")
            job.scope.cancel()
            job.finish("cancelled", "cancelled by request")
            return job.view()
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    async def call(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("name") != TOOL["name"]:
            raise RpcError(INVALID_PARAMS, f"unknown tool {params.get('name')!r}")
        arguments = params.get("arguments") or {}
        task = params.get("task")
        if task is None:
            job = self._new_job(None)
            await self.body(job, arguments)
            assert job.result is not None
            return job.result
        job = self._new_job(task.get("ttl"))
        assert self._tg is not None
        self._tg.start_soon(self.body, job, arguments)
        return {"task": job.view()}

    def _new_job(self, ttl: int | None) -> Job:
        job = Job(task_id="task-" + uuid.uuid4().hex[:12], created_at=_now(), ttl=ttl)
        self._jobs[job.task_id] = job
        return job

    def _job(self, task_id: Any) -> Job:
        job = self._jobs.get(task_id) if isinstance(task_id, str) else None
        if job is None:
            raise RpcError(INVALID_PARAMS, f"Failed to retrieve task: Task not found ({task_id})")
        return job

    async def body(self, job: Job, arguments: dict[str, Any]) -> None:
        self.log("body_started", job.task_id, name=arguments.get("name"))
        with job.scope:
            await self._released.wait()
            name = arguments["name"]
            job.result = {
                "content": [{"type": "text", "text": json.dumps({"provisioned": name})}],
                "structuredContent": {"provisioned": name},
                "isError": False,
            }
            self.log("body_finished", job.task_id)
            job.finish("completed")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description="MCP test server 'tasks' (Streamable HTTP only)")
    parser.add_argument("--http", type=int, required=True, metavar="PORT")
    parser.add_argument("--record", type=Path, required=True, metavar="FILE")
    args = parser.parse_args()
    server = TaskServer(args.record)
    app = Starlette(
        routes=[
            Route("/mcp", server.endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/release", server.release, methods=["POST"]),
        ],
        lifespan=server.lifespan,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
