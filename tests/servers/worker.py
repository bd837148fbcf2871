"""Worker server: an agent for task-routing tests that writes down, on its own side, what it ran.

Env ``WORKER_NAME`` names it; ``WORKER_FILE`` (required) gets one JSON line per event, flushed and
fsynced: ``{"event": "start"|"end"|"cancelled", "worker", "pid", "label", "running"}``, where
``running`` is how many calls this process had in flight at that moment (so a test can check a
concurrency limit where it matters: on the server). ``WORKER_EXTRA_S`` adds seconds to every call;
``WORKER_BROKEN`` makes every call a tool error. ``work`` is idempotent, ``work_once`` destructive;
both record ``start``, wait ``seconds``, record ``end`` and return ``{"worker", "label"}``; ``fail``
always answers with a tool error.
"""

from __future__ import annotations

import json
import os

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

mcp: MCPServer = MCPServer("worker")
NAME = os.environ.get("WORKER_NAME", "worker")
running = 0


def _note(event: str, label: str) -> None:
    path = os.environ.get("WORKER_FILE")
    if not path:
        raise ToolError("WORKER_FILE is not set")
    line = json.dumps(
        {"event": event, "worker": NAME, "pid": os.getpid(), "label": label, "running": running}
    )
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


async def _work(label: str, seconds: float) -> dict[str, str]:
    global running
    if os.environ.get("WORKER_BROKEN"):
        raise ToolError(f"{NAME} is broken")
    seconds += float(os.environ.get("WORKER_EXTRA_S", "0"))
    running += 1
    _note("start", label)
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _note("cancelled", label)
        raise
    finally:
        running -= 1
    _note("end", label)
    return {"worker": NAME, "label": label}


@mcp.tool(
    description="Record start, wait `seconds`, record end; returns the worker's name and the label",
    annotations=ToolAnnotations(idempotent_hint=True, destructive_hint=False),
)
async def work(label: str = "", seconds: float = 0.0) -> dict[str, str]:
    return await _work(label, seconds)


@mcp.tool(
    description="Like work, but marked destructive and not idempotent",
    annotations=ToolAnnotations(idempotent_hint=False, destructive_hint=True),
)
async def work_once(label: str = "", seconds: float = 0.0) -> dict[str, str]:
    return await _work(label, seconds)


@mcp.tool(description="Always fails with a tool error")
async def fail(label: str = "") -> str:
    raise ToolError(f"{NAME} cannot do {label or 'that'}")


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
