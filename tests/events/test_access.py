"""Who may follow what: roles and topics, and tokens revoked before or during a connection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.events.conftest import RunStreamHub, StreamHub, closed_with, receive

pytestmark = pytest.mark.anyio


async def new_token(running: StreamHub, role: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=running.url, headers={"Authorization": f"Bearer {running.token}"}, timeout=10
    ) as admin:
        response = await admin.post("/api/v1/tokens", json={"name": f"{role} stream", "role": role})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def revoke(running: StreamHub, token_id: str) -> None:
    async with httpx.AsyncClient(
        base_url=running.url, headers={"Authorization": f"Bearer {running.token}"}, timeout=10
    ) as admin:
        assert (await admin.delete(f"/api/v1/tokens/{token_id}")).status_code == 204


async def test_a_viewer_follows_everything_but_the_audit_log(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running:
        viewer = (await new_token(running, "viewer"))["token"]
        async with running.connect(token=viewer) as ws:
            snapshot = await receive(ws)
        async with running.connect(token=viewer, topics="servers,audit") as ws:
            code, reason, seen = await closed_with(ws)

    assert "audit" not in snapshot["topics"]
    assert "servers" in snapshot["topics"]
    assert (code, reason, seen) == (4403, "topics: only an admin may follow audit", [])


async def test_a_revoked_token_is_refused_with_4401_and_no_data(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running:
        token = await new_token(running, "operator")
        await revoke(running, token["id"])
        async with running.connect(token=token["token"]) as ws:
            code, _, seen = await closed_with(ws)

    assert (code, seen) == (4401, [])


async def test_a_token_revoked_while_connected_closes_the_stream_with_4401(stream_hub: RunStreamHub) -> None:
    async with stream_hub(ping_interval_s=0.2) as running:
        token = await new_token(running, "viewer")
        async with running.connect(token=token["token"], topics="servers") as ws:
            await receive(ws)
            await revoke(running, token["id"])
            code, reason, _ = await closed_with(ws)

    assert code == 4401
    assert reason == "the token expired or was revoked"
