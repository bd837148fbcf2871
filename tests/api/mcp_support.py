"""An official SDK client on an in-process hub's ``/mcp``, with a given token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.rig import RunningHub


@asynccontextmanager
async def mcp_session(running: RunningHub, token: str, path: str = "/mcp") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(running.url + path, http_client=http), mode="legacy") as client,
    ):
        yield client
