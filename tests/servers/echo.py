"""Echo server: the simplest well-behaved upstream (``echo`` and ``add``), for happy-path tests."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

mcp: MCPServer = MCPServer("echo")


@mcp.tool(
    description="Return the text unchanged",
    annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
)
def echo(text: str) -> str:
    return text


@mcp.tool(description="Return a + b")
def add(a: float, b: float) -> float:
    return a + b


@mcp.tool(description="Return the _meta the request carried (what a server may use to deduplicate)")
async def request_meta(ctx: Context[Any, Any]) -> dict[str, Any]:
    meta = ctx.request_context.meta or {}
    return {key: value for key, value in dict(meta).items() if key != "progress_token"}


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
