"""REST routes for tools: what the gateway exposes, and calling one.

A call takes the hub's one call path (``Endpoint.call_tool`` → ``CallPath.call``), as MCP
``tools/call`` does: the same authorization (a viewer lists tools but calls none unless
``auth.viewers_may_call_tools``), the same argument check against ``inputSchema``, breaker, deadline,
metrics and audit. Where MCP turns a refusal into a tool error, REST answers with a problem: bad
arguments 422, a server that cannot take the call 503 naming its state, no answer in time 504. A tool
that fails on its own is a 200 result with ``isError`` true, as in MCP.
"""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types as types
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from corral.api.authz import Viewer, needs
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, page_of
from corral.api.problems import documented
from corral.auth.principal import Role
from corral.calls.path import Caller
from corral.gateway.endpoint import ExposedTool
from corral.strict import StrictModel

router = APIRouter(prefix="/api/v1/tools", tags=["tools"])
Ctx = Annotated[ApiContext, Depends(context)]
TOOLS = by_text("tools")


class ToolOut(BaseModel):
    name: str = Field(description="The name the gateway exposes: '<server>__<tool>', or a Corral tool's own.")
    server: str = Field(description="The server it belongs to; 'corral' for Corral's own tools.")
    original_name: str = Field(description="Its name on that server.")
    title: str | None
    description: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, Any] | None = Field(description="MCP tool annotations, e.g. readOnlyHint.")

    @classmethod
    def of(cls, exposed: ExposedTool) -> ToolOut:
        tool = exposed.tool
        return cls(
            name=tool.name,
            server=exposed.route.server,
            original_name=exposed.route.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.input_schema,
            output_schema=tool.output_schema,
            annotations=tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
            if tool.annotations
            else None,
        )


class ToolList(Page[ToolOut]):
    """Tools sorted by exposed name."""


class ToolCallIn(StrictModel):
    arguments: dict[str, Any] = Field(default_factory=dict, description="Checked against the inputSchema.")


class ToolResultOut(BaseModel):
    """The tool's result as MCP ``tools/call`` returns it."""

    model_config = ConfigDict(populate_by_name=True)

    content: list[dict[str, Any]] = Field(description="MCP content blocks (text, image, ...).")
    structured_content: dict[str, Any] | None = Field(None, alias="structuredContent")
    is_error: bool = Field(
        False, alias="isError", description="True when the tool itself reported a failure."
    )

    @classmethod
    def of(cls, result: types.CallToolResult) -> ToolResultOut:
        return cls(
            content=[
                block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content
            ],
            structured_content=result.structured_content,
            is_error=bool(result.is_error),
        )


@router.get(
    "",
    summary="Every tool the gateway exposes, sorted by name",
    dependencies=needs(Role.VIEWER),
)
async def list_tools(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    server: Annotated[
        str | None, Query(description="Only this server's tools ('corral': Corral's own).")
    ] = None,
    q: Annotated[
        str | None, Query(description="Only tools whose name or description contains this (any case).")
    ] = None,
) -> ToolList:
    tools = ctx.gateway.exposed_tools()
    if server is not None:
        tools = [tool for tool in tools if tool.route.server == server]
    if q:
        needle = q.casefold()
        tools = [
            tool for tool in tools if needle in f"{tool.tool.name}\n{tool.tool.description or ''}".casefold()
        ]
    page, next_cursor = page_of(tools, lambda tool: tool.tool.name, limit, TOOLS, cursor)
    return ToolList(items=[ToolOut.of(tool) for tool in page], next_cursor=next_cursor)


@router.get(
    "/{name}",
    summary="One tool; also one of a server that is down now",
    dependencies=needs(Role.VIEWER),
)
async def get_tool(name: str, ctx: Ctx) -> ToolOut:
    return ToolOut.of(ctx.gateway.exposed_tool(name))


@router.post(
    "/{name}/call",
    summary="Call a tool through the gateway, as MCP tools/call does (an operator's right by default)",
    responses=documented(502, 503, 504),
)
async def call_tool(
    name: str, body: ToolCallIn, principal: Viewer, ctx: Ctx, request: Request
) -> ToolResultOut:
    client = request.client
    caller = Caller(principal.name, client.host if client is not None else "", principal)
    return ToolResultOut.of(await ctx.gateway.call_tool(name, body.arguments, caller))
