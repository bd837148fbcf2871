"""Connecting the official SDK client to a hub's MCP endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import HubProcess


@asynccontextmanager
async def mcp_client(hub: HubProcess, path: str = "/mcp", **options: Any) -> AsyncIterator[Client]:
    """An SDK client on the hub's endpoint, with the hub's admin token."""
    async with (
        httpx2.AsyncClient(headers=hub.headers(), timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(hub.url + path, http_client=http), mode="legacy", **options) as client,
    ):
        yield client


def text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


class ToolListChanges:
    """Counts ``notifications/tools/list_changed`` a client receives; ``next()`` waits for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._arrived = anyio.Event()

    async def handle(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.count += 1
            self._arrived.set()

    async def next(self) -> None:
        await self._arrived.wait()
        self._arrived = anyio.Event()
