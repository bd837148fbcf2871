"""The hub's MCP face on stdin/stdout, for clients that launch a command (``corral mcp``).

Two ways: serve the fleet endpoint of a hub running in this process, or bridge
to a running hub's ``/mcp`` — a byte-faithful pump of JSON-RPC messages in
both directions, so everything the HTTP endpoint relays (progress, logs,
sampling, elicitation, change notifications) reaches the stdio client too.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

from corral.upstream.keepalive import keepalive_transport

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0


async def serve_stdio(server: Server[Any]) -> None:
    """Serve ``server`` on this process's stdin/stdout until stdin closes."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def bridge_stdio(url: str, token: str | None) -> None:
    """Relay stdin/stdout to the hub at ``url`` (its ``/mcp``) until either side closes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # Reads wait for long tool calls and for server-sent events, so only connecting is bounded.
    timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=None)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, transport=keepalive_transport()) as http,
        streamable_http_client(url, http_client=http) as (hub_read, hub_write),
        stdio_server() as (client_read, client_write),
        anyio.create_task_group() as tg,
    ):

        async def pump(
            source: ReadStream[SessionMessage | Exception], sink: WriteStream[SessionMessage], what: str
        ) -> None:
            async for message in source:
                if isinstance(message, Exception):
                    logger.warning("dropping a message %s that could not be read: %s", what, message)
                    continue
                await sink.send(message)
            tg.cancel_scope.cancel()

        tg.start_soon(pump, client_read, hub_write, "from the client")
        tg.start_soon(pump, hub_read, client_write, "from the hub")
