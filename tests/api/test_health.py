"""Liveness and readiness: open without a token; ready once every server has had its first start."""

from __future__ import annotations

import sys

import httpx
import pytest

from corral.supervisor.state import ServerStatus
from tests.rig import RunHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

# Starts and then never answers the MCP handshake, so it stays "starting" until its connect timeout.
MUTE = {"command": sys.executable, "args": ["-c", "import sys; sys.stdin.read()"], "connect_timeout_s": 60}


async def test_healthz_answers_without_a_token(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anonymous:
        response = await anonymous.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_200_once_the_servers_have_started(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_for(lambda: httpx.get(f"{running.url}/readyz").status_code == 200)

        async with running.anonymous() as anonymous:
            response = await anonymous.get("/readyz")
        echo = (await running.client.get("/api/v1/servers/echo")).json()

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "servers": 1, "starting": [], "store": "ok"}
    assert echo["status"] == "healthy"


async def test_readyz_is_503_and_names_a_server_still_on_its_first_start(run_hub: RunHub) -> None:
    async with run_hub({"mute": MUTE}) as running:
        await running.wait_status("mute", ServerStatus.STARTING)

        async with running.anonymous() as anonymous:
            response = await anonymous.get("/readyz")
        mute = (await running.client.get("/api/v1/servers/mute")).json()

    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["starting"] == ["mute"]
    assert mute["status"] == "starting"


async def test_the_api_and_mcp_answer_while_servers_are_still_on_their_first_start(run_hub: RunHub) -> None:
    mute = {f"mute{index}": MUTE for index in range(3)}
    client_info = {"name": "t", "version": "1"}
    initialize = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client_info},
    }  # fmt: skip
    async with run_hub(mute) as running:
        healthz = await running.client.get("/healthz")
        readyz = await running.client.get("/readyz")
        servers = await running.client.get("/api/v1/servers")
        mcp = await running.client.post(
            "/mcp", json=initialize, headers={"Accept": "application/json, text/event-stream"}
        )

    assert healthz.status_code == 200
    assert readyz.status_code == 503
    assert sorted(readyz.json()["starting"]) == ["mute0", "mute1", "mute2"]
    assert {server["name"]: server["status"] for server in servers.json()["items"]} == dict.fromkeys(
        mute, "starting"
    )
    assert mcp.status_code == 200
    assert '"serverInfo"' in mcp.text  # a JSON body or an SSE event, as the gateway chooses
