"""Dynamic server: its tool list changes at run time, and it asks its client things.

``grow(name)`` adds a tool and announces it with ``notifications/tools/list_changed``;
``grow_silently(name)`` adds one without telling anybody (for the unannounced-change check).
``roots()`` asks the client for its roots; ``touch(uri)`` sends ``notifications/resources/updated``
for the subscribable resource ``dynamic://status``.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

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


@mcp.tool(description="Ask the client for its roots and return their URIs")
async def roots(ctx: Context[Any, Any]) -> list[str]:
    answer = await ctx.session.list_roots()
    return [str(root.uri) for root in answer.roots]


@mcp.resource("dynamic://status", description="A resource clients can subscribe to")
def status() -> str:
    return "ok"


@mcp.tool(description="Tell subscribers that a resource changed")
async def touch(uri: str, ctx: Context[Any, Any]) -> str:
    await ctx.session.send_resource_updated(uri)
    return f"touched {uri}"


async def _accept(ctx: ServerRequestContext[Any, Any], params: Any) -> EmptyResult:
    return EmptyResult()


# MCPServer has no public hook for subscriptions; its low-level server does.
mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, _accept)
mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _accept)


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
