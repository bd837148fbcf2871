"""Hanging server: initializes and lists ``noop``, but never answers ``ping`` (a wedged upstream).

Env ``HANG_LIST=1``: every ``tools/list`` after the first one hangs too.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

_lists = 0


async def _hang(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: block forever on ``ping`` (and on repeated ``tools/list`` when HANG_LIST=1)."""
    global _lists
    if ctx.method == "ping":
        await anyio.sleep_forever()
    if ctx.method == "tools/list":
        _lists += 1
        if _lists > 1 and os.environ.get("HANG_LIST") == "1":
            await anyio.sleep_forever()
    return await call_next(ctx)


mcp: MCPServer = MCPServer("hanging", middleware=[_hang])


@mcp.tool(description="Do nothing")
async def noop() -> str:
    return "ok"


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
