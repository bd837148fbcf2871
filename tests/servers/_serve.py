"""Shared entry point for the test servers: stdio by default, Streamable HTTP with ``--http PORT``."""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer


def serve(server: MCPServer, argv: list[str] | None = None) -> None:
    """Run ``server`` over stdio, or Streamable HTTP on 127.0.0.1:PORT/mcp with ``--http PORT``."""
    parser = argparse.ArgumentParser(description=f"MCP test server {server.name!r}")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args(argv)
    if args.http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http, streamable_http_path="/mcp")
