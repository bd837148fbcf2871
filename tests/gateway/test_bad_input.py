"""What the MCP endpoints do with bad input: each a clear error, the hub unharmed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.gateway.clients import mcp_client, text
from tests.support import HubProcess, server_entry

pytestmark = pytest.mark.anyio
MCP_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess]) -> HubProcess:
    return module_hub({"mcpServers": {"echo": server_entry("echo")}})


def initialize_body() -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }


async def assert_hub_unharmed(hub: HubProcess) -> None:
    assert hub.get("/healthz").status_code == 200
    async with mcp_client(hub) as client:
        assert text(await client.call_tool("echo__echo", {"text": "fine"})) == "fine"


async def test_malformed_json_is_a_parse_error(hub: HubProcess) -> None:
    response = hub.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=MCP_ACCEPT)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    await assert_hub_unharmed(hub)


async def test_a_message_that_is_not_json_rpc_is_rejected(hub: HubProcess) -> None:
    response = hub.post("/mcp", json={"hello": "world"}, headers=MCP_ACCEPT)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in (-32600, -32602, -32700)
    await assert_hub_unharmed(hub)


async def test_oversized_body_is_refused_with_413(hub: HubProcess) -> None:
    body = initialize_body()
    body["params"] = {**body["params"], "padding": "x" * (5 * 1024 * 1024)}  # type: ignore[dict-item]
    response = hub.post("/mcp", json=body, headers=MCP_ACCEPT)
    assert response.status_code == 413
    await assert_hub_unharmed(hub)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-the-token", "Basic abc"], ids=["none", "wrong", "basic"]
)
async def test_missing_or_wrong_token_is_401_on_every_mcp_endpoint(
    hub: HubProcess, authorization: str | None
) -> None:
    headers = {**MCP_ACCEPT, **({"Authorization": authorization} if authorization else {})}
    for path in ("/mcp", "/servers/echo/mcp"):
        response = hub._http.post(path, json=initialize_body(), headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthorized"
    await assert_hub_unharmed(hub)


@pytest.mark.parametrize("header", ["Host", "Origin"])
async def test_foreign_host_or_origin_is_refused(hub: HubProcess, header: str) -> None:
    value = "evil.example.com" if header == "Host" else "http://evil.example.com"
    response = hub.post("/mcp", json=initialize_body(), headers={**MCP_ACCEPT, header: value})
    assert response.status_code in (400, 403, 421)
    await assert_hub_unharmed(hub)


async def test_unknown_session_is_404_and_a_deleted_session_is_gone(hub: HubProcess) -> None:
    unknown = hub.post(
        "/mcp",
        json=initialize_body() | {"id": 2, "method": "ping"},
        headers={**MCP_ACCEPT, "Mcp-Session-Id": "no-such-session"},
    )
    assert unknown.status_code == 404

    opened = hub.post("/mcp", json=initialize_body(), headers=MCP_ACCEPT)
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    closed = hub._http.delete("/mcp", headers={**hub.headers(), **MCP_ACCEPT, "Mcp-Session-Id": session})
    assert closed.status_code == 200
    after = hub.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 3, "method": "ping"},
        headers={**MCP_ACCEPT, "Mcp-Session-Id": session},
    )
    assert after.status_code == 404
    await assert_hub_unharmed(hub)
