"""HTTP upstreams through the hub on each of its client transports: Corral's own (``legacy``, the
default) and the SDK's (``protocol: auto``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gateway.clients import mcp_client, text
from tests.support import HttpTestServer, HubProcess, free_port

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("protocol", ["legacy", "auto"])
async def test_calls_reach_an_http_upstream_on_either_transport(
    start_hub: Callable[..., HubProcess], tmp_path: Path, protocol: str
) -> None:
    upstream = HttpTestServer("echo", free_port(), tmp_path)
    try:
        entry = {"type": "http", "url": upstream.url, "protocol": protocol}
        hub = start_hub({"mcpServers": {"remote": entry}})
        async with mcp_client(hub) as client:
            for index in range(5):
                result = await client.call_tool("remote__echo", {"text": f"via {protocol} {index}"})
                assert not result.is_error, text(result)
                assert text(result) == f"via {protocol} {index}"
        assert hub.server("remote")["status"] == "healthy"
    finally:
        upstream.stop()
