"""Bearer-token authentication of the API: every /api route needs the admin token."""

from __future__ import annotations

import stat

import pytest
from fastapi.routing import APIRoute

from corral.api import servers, settings
from tests.rig import RunHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

# Known to the hub but never started: these tests are about the API, not the server.
PARKED_ECHO = {**server_entry("echo"), "disabled": True}

API_ROUTES = sorted(
    (method, route.path.replace("{name}", "echo"))
    for router in (servers.router, settings.router)
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)


def test_the_route_list_covers_the_servers_and_settings_api() -> None:
    assert ("GET", "/api/v1/servers") in API_ROUTES
    assert ("PATCH", "/api/v1/settings") in API_ROUTES
    assert len(API_ROUTES) >= 11


async def test_every_api_route_without_a_token_is_401_problem_json(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        for method, path in [*API_ROUTES, ("GET", "/api"), ("GET", "/api/v1/no-such-route")]:
            response = await anon.request(method, path)

            assert response.status_code == 401, (method, path)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == 'Bearer realm="corral"'
            problem = response.json()
            assert (problem["code"], problem["status"]) == ("unauthorized", 401)
            assert problem["detail"].startswith("missing bearer token")


async def test_a_wrong_token_is_401_invalid(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        responses = [
            await anon.get("/api/v1/servers", headers={"Authorization": "Bearer corral_not-the-token"}),
            await anon.get("/api/v1/servers", headers={"Authorization": f"Basic {running.hub.admin_token}"}),
        ]

    assert [response.status_code for response in responses] == [401, 401]
    assert responses[0].json()["code"] == "unauthorized"
    assert responses[0].json()["detail"].startswith("invalid bearer token")
    assert responses[1].json()["detail"].startswith("missing bearer token")


async def test_the_admin_token_file_is_private_and_its_token_opens_every_read_route(run_hub: RunHub) -> None:
    async with (
        run_hub({"echo": PARKED_ECHO}) as running,
        running.anonymous() as anon,
    ):
        token_file = running.data_dir / "admin.token"
        token = token_file.read_text().strip()
        mode = stat.S_IMODE(token_file.stat().st_mode)

        statuses = {
            path: (await anon.get(path, headers={"Authorization": f"Bearer {token}"})).status_code
            for method, path in API_ROUTES
            if method == "GET"
        }

    assert mode == 0o600
    assert token.startswith("corral_")
    assert statuses == dict.fromkeys(statuses, 200)
    assert set(statuses) == {
        "/api/v1/servers",
        "/api/v1/servers/echo",
        "/api/v1/servers/echo/logs",
        "/api/v1/settings",
    }


async def test_the_admin_token_is_kept_across_restarts(run_hub: RunHub) -> None:
    async with run_hub() as running:
        first = running.hub.admin_token
    async with run_hub() as running:
        second = running.hub.admin_token
        response = await running.client.get("/api/v1/servers")

    assert first == second
    assert response.status_code == 200
