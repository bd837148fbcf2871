"""Dynamic server: its tool list changes at run time.

``grow(name)`` adds a tool and announces it with ``notifications/tools/list_changed``;
``grow_silently(name)`` adds one without telling anybody (for the unannounced-change check).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer

mcp: MCPServer = MCPServer("dynamic")


def _add(name: str) -> None:
    def extra() -> str:
        return name

    mcp.add_tool(extra, name=name, description=f"Added at run time: {name}")


@mcp.tool(description="Add a tool and announce the change")
async def grow(name: str, ctx: Context[Any, Any]) -> str:
    _add(name)
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


@mcp.tool(description="Add a tool without announcing it")
async def grow_silently(name: str) -> str:
    _add(name)
    return f"added {name} silently"


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
