"""Recorder server: appends one durable JSON line per call, for workflow crash tests.

Env ``RECORDER_FILE`` (required): the file to append ``{"key", "value", "pid", "tool"}`` lines to.
``record`` is marked idempotent (a workflow may run it again after a crash); ``record_once`` is marked
destructive and not idempotent (a workflow must not repeat it silently). Both record first, then wait
``linger`` seconds, so a crash during the wait leaves the side effect done but the step unfinished.
"""

from __future__ import annotations

import json
import os

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

mcp: MCPServer = MCPServer("recorder")


def _append(tool: str, key: str, value: str) -> None:
    path = os.environ.get("RECORDER_FILE")
    if not path:
        raise ToolError("RECORDER_FILE is not set: the recorder server needs it to record")
    line = json.dumps({"key": key, "value": value, "pid": os.getpid(), "tool": tool})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


@mcp.tool(
    description="Append {key, value, pid} as a JSON line to $RECORDER_FILE, then wait `linger` seconds",
    annotations=ToolAnnotations(idempotent_hint=True, destructive_hint=False),
)
async def record(key: str, value: str = "", linger: float = 0.0) -> str:
    _append("record", key, value)
    await anyio.sleep(linger)
    return key


@mcp.tool(
    description="Like record, but marked destructive and not idempotent",
    annotations=ToolAnnotations(idempotent_hint=False, destructive_hint=True),
)
async def record_once(key: str, value: str = "", linger: float = 0.0) -> str:
    _append("record_once", key, value)
    await anyio.sleep(linger)
    return key


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
