"""Echo server: the simplest well-behaved upstream (``echo`` and ``add``), for happy-path tests."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
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


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
