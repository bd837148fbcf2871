"""Stateful server: a counter that lives as long as the process (one process = one session over stdio)."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

mcp: MCPServer = MCPServer("stateful")
_count = 0


@mcp.tool(description="Add one to this session's counter and return it")
def increment() -> int:
    global _count
    _count += 1
    return _count


@mcp.tool(description="The process id of this server")
def whoami() -> int:
    return os.getpid()


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
