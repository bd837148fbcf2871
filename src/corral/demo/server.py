"""Corral's demo MCP server: a few harmless tools to try the hub with.

Run it with ``python -m corral.demo.server`` (stdio) or ``python -m corral.demo.server --http PORT``
(Streamable HTTP on 127.0.0.1:PORT/mcp).
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

FORTUNES: tuple[str, ...] = (
    "A supervised server is a happy server.",
    "Every upstream crashes eventually; the hub restarts it.",
    "One hub, many servers, zero lost tool calls.",
    "Timeouts are budgets, not suggestions.",
    "Ping your fleet before your users do.",
    "Progress notifications: the heartbeat of a long tool call.",
)

_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

mcp: MCPServer = MCPServer(
    "corral-demo",
    instructions="Demo tools shipped with Corral: echo, add, countdown (with progress) and fortune.",
)


@mcp.tool(description="Return the text unchanged", annotations=_READ_ONLY)
def echo(text: str) -> str:
    return text


@mcp.tool(description="Add two numbers and return the sum", annotations=_READ_ONLY)
def add(a: float, b: float) -> float:
    return a + b


@mcp.tool(
    description="Count down from `seconds` to zero, reporting progress once per second",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
)
async def countdown(ctx: Context[Any, Any], seconds: int = 5) -> str:
    seconds = max(0, seconds)
    for i in range(seconds):
        await anyio.sleep(1)
        await ctx.report_progress(i + 1, seconds, f"{seconds - i - 1} left")
    return f"liftoff after {seconds}s"


@mcp.tool(
    description="Return a short saying about running fleets of MCP servers",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
)
def fortune() -> str:
    return random.choice(FORTUNES)


def main(argv: list[str] | None = None) -> None:
    """Serve over stdio, or Streamable HTTP on 127.0.0.1:PORT/mcp with ``--http PORT``."""
    parser = argparse.ArgumentParser(prog="python -m corral.demo.server", description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args(argv)
    if args.http is None:
        mcp.run("stdio")
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
