"""Users and tokens of every role on a running hub, made through the REST API with the admin token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from tests.rig import RunningHub

PASSWORD = "a password long enough"
WAIT_S = 10.0


@dataclass(frozen=True)
class Credentials:
    """A bearer token per kind of caller; ``target_token`` is a token the callers do not own."""

    tokens: dict[str, str | None]
    target_token: str


async def add_user(client: httpx.AsyncClient, name: str, role: str) -> None:
    response = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text


async def token_for(client: httpx.AsyncClient, *, role: str, **extra: object) -> dict[str, str]:
    response = await client.post("/api/v1/tokens", json={"name": f"{role} token", "role": role, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


async def wait_refused(running: RunningHub, token: str) -> httpx.Response:
    """Ask who the token is until the hub says 401 (bounded)."""
    async with running.anonymous() as anon:
        with anyio.fail_after(WAIT_S):
            while True:
                response = await anon.get("/api/v1/auth/whoami", headers=bearer(token))
                if response.status_code == 401:
                    return response
                await anyio.sleep(0.05)


async def every_kind_of_caller(running: RunningHub) -> Credentials:
    """No token, a bad one, an expired one, a revoked one, and a token of a user of each role."""
    admin = running.client
    expiring = await token_for(admin, role="viewer", expires_in=1)
    revoked = await token_for(admin, role="viewer")
    target = await token_for(admin, role="viewer")
    assert (await admin.delete(f"/api/v1/tokens/{revoked['id']}")).status_code == 204
    tokens: dict[str, str | None] = {"none": None, "bad": "corral_at_not-a-real-token"}
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        await add_user(admin, name, role)
        async with running.anonymous() as anon:
            session = await login(anon, name)
            anon.headers.update(bearer(session))
            tokens[role] = (await token_for(anon, role=role))["token"]
    await wait_refused(running, expiring["token"])
    tokens["expired"] = expiring["token"]
    tokens["revoked"] = revoked["token"]
    return Credentials(tokens, target["id"])


async def audit_entries(running: RunningHub, at_least: int = 1, **filters: str) -> list[dict[str, Any]]:
    """Audit entries matching ``filters``, waiting (bounded) until there are ``at_least``:
    the audit writer stores entries in batches, a moment after the request."""
    with anyio.fail_after(WAIT_S):
        while True:
            response = await running.client.get("/api/v1/audit", params=filters)
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            if len(items) >= at_least:
                return items
            await anyio.sleep(0.05)
