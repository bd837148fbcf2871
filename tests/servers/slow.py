"""Slow server: long-running tools that report progress, and leave evidence when cancelled.

Env ``CORRAL_TEST_MARKER_DIR``: if set, a cancelled ``slow``/``sleep`` call appends a line to
``<dir>/cancelled-<tool>`` before the cancellation propagates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer

mcp: MCPServer = MCPServer("slow")


def _mark_cancelled(tool: str) -> None:
    marker_dir = os.environ.get("CORRAL_TEST_MARKER_DIR")
    if marker_dir:
        with open(Path(marker_dir) / f"cancelled-{tool}", "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {time.time():.3f}\n")


@mcp.tool(description="Sleep `delay` seconds `steps` times, reporting progress after each step")
async def slow(ctx: Context[Any, Any], steps: int = 5, delay: float = 0.1) -> str:
    try:
        for i in range(steps):
            await anyio.sleep(delay)
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    except anyio.get_cancelled_exc_class():
        _mark_cancelled("slow")
        raise
    return f"done after {steps} steps"


@mcp.tool(description="Sleep for `seconds` seconds")
async def sleep(seconds: float) -> str:
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _mark_cancelled("sleep")
        raise
    return f"slept {seconds}s"


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
