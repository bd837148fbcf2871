"""Crashing server: dies with exit code 3 on demand, to test upstream-crash handling.

``kill_parent`` takes its parent (the node that runs it) down with it.
Env ``CRASH_AFTER`` (int, default 0 = never): exit when the n-th ``tools/call`` arrives.
Env ``CRASH_ON_START=1``: exit(3) at start, before serving (a server that can never start).
"""

from __future__ import annotations

import os
import signal
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

_calls = 0


async def _crash_after(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: count every ``tools/call`` (any tool name) and exit on the CRASH_AFTER-th one."""
    global _calls
    if ctx.method == "tools/call":
        _calls += 1
        if _calls == int(os.environ.get("CRASH_AFTER", "0")):
            os._exit(3)
    return await call_next(ctx)


mcp: MCPServer = MCPServer("crashing", middleware=[_crash_after])


@mcp.tool(description="Return 'ok'")
async def work() -> str:
    return "ok"


@mcp.tool(description="Exit the server process at once with code 3")
async def crash() -> str:
    os._exit(3)


@mcp.tool(description="SIGKILL the process that started this server (a `corral node`), then exit")
async def kill_parent() -> str:
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(3)


if __name__ == "__main__":
    if os.environ.get("CRASH_ON_START") == "1":
        raise SystemExit(3)
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
