"""Rate limits per token: REST answers 429 with Retry-After, MCP a JSON-RPC error with a retry hint,
WebSockets a close with 4429; logins are limited per client address."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import MCPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from corral.gateway.errors import RATE_LIMITED
from tests.api.authz_support import bearer, token_for
from tests.api.mcp_support import mcp_session
from tests.rig import RunHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

# A burst of five, then one request every 100 s: the bucket does not refill during a test.
TIGHT = {"rate_limit_per_s": 0.01, "rate_limit_burst": 5}


async def test_the_request_after_the_burst_gets_429_with_retry_after_and_other_tokens_go_on(
    run_hub: RunHub,
) -> None:
    async with run_hub(auth=TIGHT) as running, running.anonymous() as anon:
        issued = await token_for(running.client, role="viewer")
        statuses = [
            (await anon.get("/api/v1/servers", headers=bearer(issued["token"]))).status_code for _ in range(6)
        ]
        limited = await anon.get("/api/v1/servers", headers=bearer(issued["token"]))
        other_token = await running.client.get("/api/v1/servers")

    assert statuses == [200] * 5 + [429]
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 90
    problem = limited.json()
    assert problem["code"] == "rate_limited"
    assert problem["retry_after_s"] >= 90
    assert problem["detail"].startswith("too many requests for this token; retry in")
    assert other_token.status_code == 200


async def test_an_mcp_request_over_the_limit_gets_a_json_rpc_error_with_a_retry_hint(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}, auth={**TIGHT, "rate_limit_burst": 8}) as running:
        issued = await token_for(running.client, role="operator")
        await running.wait_for(lambda: running.hub.supervisor.runner("echo").state.status.serving)
        outcomes: list[Any] = []
        async with mcp_session(running, issued["token"]) as client:
            for _ in range(10):
                try:
                    outcomes.append(await client.call_tool("echo__echo", {"text": "hi"}))
                except MCPError as exc:
                    outcomes.append(exc)
                    break
        async with running.anonymous() as anon:
            raw = await anon.post(
                "/mcp",
                headers={**bearer(issued["token"]), "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
            )

    *calls, refusal = outcomes
    assert calls and not any(result.is_error for result in calls)
    assert isinstance(refusal, MCPError)
    assert refusal.code == RATE_LIMITED
    assert refusal.message.startswith("too many requests for this token; retry in")
    assert refusal.data["code"] == "rate_limited"
    assert refusal.data["retry_after_s"] >= 90
    assert raw.status_code == 429
    assert int(raw.headers["retry-after"]) >= 90
    assert raw.json()["error"]["code"] == RATE_LIMITED


async def test_a_websocket_connect_over_the_limit_is_closed_with_4429(run_hub: RunHub) -> None:
    async with run_hub(auth={**TIGHT, "rate_limit_burst": 1}) as running:
        issued = await token_for(running.client, role="viewer")
        async with running.anonymous() as anon:
            await anon.get("/api/v1/servers", headers=bearer(issued["token"]))
        url = running.url.replace("http://", "ws://") + "/ws/events"
        async with connect(url, subprotocols=["bearer", issued["token"]], proxy=None, open_timeout=10) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429
    assert closed.value.rcvd.reason.startswith("rate limited; retry in")


async def test_logins_are_limited_per_client_address(run_hub: RunHub) -> None:
    async with (
        run_hub(auth={"login_rate_per_s": 0.01, "login_burst": 3}) as running,
        running.anonymous() as anon,
    ):
        statuses = [
            (
                await anon.post("/api/v1/auth/login", json={"username": "x", "password": "guess guess"})
            ).status_code
            for _ in range(4)
        ]
        api_still_open = await running.client.get("/api/v1/servers")

    assert statuses == [401, 401, 401, 429]
    assert api_still_open.status_code == 200


async def test_the_bootstrap_admin_token_is_never_throttled(run_hub: RunHub) -> None:
    async with run_hub(auth={**TIGHT, "rate_limit_burst": 1}) as running:
        statuses = {(await running.client.get("/api/v1/servers")).status_code for _ in range(20)}

    assert statuses == {200}
