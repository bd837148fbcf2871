"""Secretive server: holds secrets (env, and request headers over HTTP) and proves it got them without
ever returning them. It is careless on purpose: at start it prints ``$SECRETIVE_TOKEN`` to stderr, raw
and as ``SECRETIVE_TOKEN=…``, and ``log_token`` sends it in an MCP log message, so tests can check that
the hub masks what its servers leak.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

mcp: MCPServer = MCPServer("secretive")
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True)


def _matches(value: str | None, sha256: str) -> bool:
    return value is not None and hashlib.sha256(value.encode()).hexdigest() == sha256


@mcp.tool(
    description="Whether env var `name` holds the value whose SHA-256 (hex) is `sha256`",
    annotations=READ_ONLY,
)
def env_matches(name: str, sha256: str) -> bool:
    return _matches(os.environ.get(name), sha256)


@mcp.tool(
    description="Whether this request's header `name` has the value whose SHA-256 is `sha256` (HTTP only)",
    annotations=READ_ONLY,
)
def header_matches(name: str, sha256: str, ctx: Context[Any, Any]) -> bool:
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    return headers is not None and _matches(headers.get(name), sha256)


@mcp.tool(description="Send $SECRETIVE_TOKEN to the client in an MCP log message; returns 'sent'")
async def log_token(ctx: Context[Any, Any]) -> str:
    await ctx.info(f"using token {os.environ.get('SECRETIVE_TOKEN', '')}")
    return "sent"


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    token = os.environ.get("SECRETIVE_TOKEN", "")
    print(f"secretive starting with SECRETIVE_TOKEN={token}", file=sys.stderr, flush=True)
    print(token, file=sys.stderr, flush=True)
    serve(mcp)
