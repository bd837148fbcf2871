"""Flaky server: ``flaky`` fails every k-th call (env ``FLAKY_EVERY``, default 3); ``fail_always`` always."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp: MCPServer = MCPServer("flaky")
_calls = 0


@mcp.tool(description="Return the text, but fail on every k-th call (k = env FLAKY_EVERY, default 3)")
async def flaky(text: str = "ok") -> str:
    global _calls
    _calls += 1
    every = int(os.environ.get("FLAKY_EVERY", "3"))
    if every > 0 and _calls % every == 0:
        raise ToolError(f"flaky failure on call {_calls}")
    return text


@mcp.tool(description="Always fail with a tool error")
def fail_always() -> str:
    raise ToolError("fail_always always fails")


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
