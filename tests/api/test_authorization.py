"""Who may do what: every route of the OpenAPI document × every kind of caller, and the MCP endpoint.

The expectations come from one declared policy (method + path → the least role, or open). A route
the document has and the policy does not declare fails the test, so no route slips through.
"""

from __future__ import annotations

from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import MCPError

from corral.auth.principal import Role
from corral.gateway.errors import FORBIDDEN
from tests.api.authz_support import audit_entries, bearer, every_kind_of_caller
from tests.api.mcp_support import mcp_session
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

OPEN = None
VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

POLICY: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    # Prometheus scrapes with an API token of its own; metrics tell what a viewer may read anyway.
    ("GET", "/metrics"): VIEWER,
    ("POST", "/api/v1/auth/login"): OPEN,
    ("GET", "/api/v1/auth/whoami"): VIEWER,
    # Anyone swaps the token they hold for a session of their own role, and ends it.
    ("POST", "/api/v1/auth/session"): VIEWER,
    ("DELETE", "/api/v1/auth/session"): VIEWER,
    ("GET", "/api/v1/metrics/history"): VIEWER,
    ("GET", "/api/v1/retention"): VIEWER,
    ("GET", "/api/v1/servers"): VIEWER,
    ("POST", "/api/v1/servers"): ADMIN,
    ("GET", "/api/v1/servers/{name}"): VIEWER,
    ("PUT", "/api/v1/servers/{name}"): ADMIN,
    ("DELETE", "/api/v1/servers/{name}"): ADMIN,
    ("GET", "/api/v1/servers/{name}/logs"): VIEWER,
    ("POST", "/api/v1/servers/{name}/restart"): OPERATOR,
    ("POST", "/api/v1/servers/{name}/reload"): OPERATOR,
    ("POST", "/api/v1/servers/{name}/enable"): OPERATOR,
    ("POST", "/api/v1/servers/{name}/disable"): OPERATOR,
    ("GET", "/api/v1/tools"): VIEWER,
    ("GET", "/api/v1/tools/{name}"): VIEWER,
    # Viewers list tools but call none (unless auth.viewers_may_call_tools), as over MCP.
    ("POST", "/api/v1/tools/{name}/call"): OPERATOR,
    ("GET", "/api/v1/settings"): VIEWER,
    ("PATCH", "/api/v1/settings"): ADMIN,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{name}"): ADMIN,
    ("DELETE", "/api/v1/users/{name}"): ADMIN,
    # Anyone changes their own password; another user's (as here) needs an admin.
    ("PUT", "/api/v1/users/{name}/password"): ADMIN,
    # Anyone makes and lists their own tokens; revoking another's (as here) needs an admin.
    ("GET", "/api/v1/tokens"): VIEWER,
    ("POST", "/api/v1/tokens"): VIEWER,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    # Who did what, from where: for administrators, on REST as on the event stream.
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/audit/export"): ADMIN,
    # Except one's own entries (one's recent tool calls, say): anyone reads those.
    ("GET", "/api/v1/audit/mine"): VIEWER,
    # Projects: anyone reads them; making, changing and deleting them is an admin's.
    ("GET", "/api/v1/projects"): VIEWER,
    ("GET", "/api/v1/projects/{name}"): VIEWER,
    ("GET", "/api/v1/projects/{name}/metrics"): VIEWER,
    ("POST", "/api/v1/projects"): ADMIN,
    ("PATCH", "/api/v1/projects/{name}"): ADMIN,
    ("DELETE", "/api/v1/projects/{name}"): ADMIN,
    ("GET", "/api/v1/nodes"): VIEWER,
    ("GET", "/api/v1/nodes/{name}"): VIEWER,
    ("GET", "/api/v1/nodes/{name}/models"): VIEWER,
}
# Workflows, executions, patterns, tasks, task groups and agents: reading needs a viewer,
# running and steering an operator.
BY_METHOD_PREFIXES = (
    "/api/v1/workflows",
    "/api/v1/executions",
    "/api/v1/patterns",
    "/api/v1/tasks",
    "/api/v1/agents",
    "/api/v1/task-groups",
)
# Bodies that get a request past validation to the check of whose thing it is.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/users/{name}/password"): {"password": "another long password"},
    ("POST", "/api/v1/tokens"): {"name": "from the matrix", "role": "viewer"},
    ("POST", "/api/v1/tools/{name}/call"): {"arguments": {}},
    ("POST", "/api/v1/projects"): {"name": "from-the-matrix"},
    ("PATCH", "/api/v1/projects/{name}"): {"description": "changed"},
}
NODE = "matrix-node"
UNAUTHENTICATED = ("none", "bad", "expired", "revoked")
ROLES = {"viewer": VIEWER, "operator": OPERATOR, "admin": ADMIN}


def is_declared(method: str, path: str) -> bool:
    return (method, path) in POLICY or path.startswith(BY_METHOD_PREFIXES)


def declared(method: str, path: str) -> Role | None:
    """The least role the route needs (None: open). Raises: KeyError for an undeclared route."""
    if (method, path) in POLICY:
        return POLICY[(method, path)]
    if path.startswith(BY_METHOD_PREFIXES):
        return VIEWER if method == "GET" else OPERATOR
    raise KeyError((method, path))


def concrete(path: str, target_token: str) -> str:
    values = {"{token_id}": target_token}
    if path.startswith("/api/v1/servers/"):
        values["{name}"] = "echo"
    if path.startswith("/api/v1/users/"):
        values["{name}"] = "target-user"
    if path.startswith("/api/v1/nodes/"):
        values["{name}"] = NODE
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    while "{" in path:  # any other id: one that does not exist
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "no-such-thing" + path[end + 1 :]
    return path


async def documented_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    document = (await client.get("/openapi.json")).json()
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def verdict(role_needed: Role | None, caller: str, response: httpx.Response) -> str | None:
    """What is wrong with this answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}: {response.text[:200]}"
    if role_needed is OPEN:
        return None if status not in (401, 403) else f"open route answered {status}"
    if caller in UNAUTHENTICATED:
        if status != 401:
            return f"expected 401, got {status}"
        code = response.json()["code"]
        return None if code in ("unauthorized", "token_expired", "token_revoked") else f"401 with code {code}"
    if ROLES[caller].covers(role_needed):
        return None if status not in (401, 403) else f"expected access, got {status}: {response.text[:200]}"
    if status != 403 or response.json()["code"] != "forbidden":
        return f"expected 403 forbidden, got {status}: {response.text[:200]}"
    return None


async def test_every_documented_route_answers_each_kind_of_caller_as_the_policy_says(run_hub: RunHub) -> None:
    async with run_hub({"echo": {**server_entry("echo"), "disabled": True}}, node={"name": NODE}) as running:
        admin = running.client
        assert (await admin.post("/api/v1/users", json={
            "name": "target-user", "password": "a password long enough", "role": "viewer",
        })).status_code == 201  # fmt: skip
        callers = await every_kind_of_caller(running)
        routes = await documented_routes(admin)

        undeclared = [route for route in routes if not is_declared(*route)]
        stale = sorted(set(POLICY) - set(routes))
        assert undeclared == [], f"declare a policy for {undeclared}"
        assert stale == [], f"the policy names routes that do not exist: {stale}"

        failures = []
        async with running.anonymous() as anon:
            for method, path in routes:
                needed = declared(method, path)
                url = concrete(path, callers.target_token)
                body = BODIES.get((method, path))
                for caller, token in callers.tokens.items():
                    response = await anon.request(method, url, headers=bearer(token), json=body)
                    problem = verdict(needed, caller, response)
                    if problem is not None:
                        failures.append(f"{method} {url} as {caller}: {problem}")

    assert len(routes) >= 25
    assert failures == []


async def call(running: RunningHub, token: str, name: str, arguments: dict[str, Any]) -> Any:
    """The call's result, or the JSON-RPC error it got (caught inside the session, which would wrap it)."""
    async with mcp_session(running, token) as client:
        try:
            return await client.call_tool(name, arguments)
        except MCPError as exc:
            return exc


async def test_a_viewer_lists_tools_but_may_not_call_them_and_an_operator_may(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        callers = await every_kind_of_caller(running)
        viewer, operator, admin = (callers.tokens[role] for role in ("viewer", "operator", "admin"))
        assert viewer and operator and admin
        await running.wait_for(lambda: running.hub.supervisor.runner("echo").state.status.serving)

        async with mcp_session(running, viewer) as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
            with pytest.raises(MCPError) as refused:
                await client.call_tool("echo__echo", {"text": "hi"})
            with pytest.raises(MCPError) as refused_management:
                await client.call_tool("get_system_health", {})
        as_operator = await call(running, operator, "echo__echo", {"text": "hi"})
        health = await call(running, operator, "get_system_health", {})
        operator_removing = await call(
            running, operator, "manage_servers", {"action": "remove", "name": "echo"}
        )
        restarted = await call(running, operator, "manage_servers", {"action": "restart", "name": "echo"})
        details = await call(running, admin, "manage_servers", {"action": "details", "name": "echo"})

    assert "echo__echo" in listed
    assert "manage_servers" in listed
    assert refused.value.code == FORBIDDEN
    assert "viewer" in refused.value.message
    assert refused.value.message.startswith("calling echo__echo needs the operator role")
    assert refused.value.data == {"code": "forbidden", "role": "viewer", "required_role": "operator"}
    assert refused_management.value.code == FORBIDDEN
    assert isinstance(as_operator, types.CallToolResult) and not as_operator.is_error
    assert "hi" in as_operator.content[0].text  # type: ignore[union-attr]
    assert not health.is_error
    assert isinstance(operator_removing, MCPError)
    assert operator_removing.code == FORBIDDEN
    assert (
        operator_removing.message == "calling manage_servers needs the admin role; otto has the operator role"
    )
    assert not restarted.is_error
    assert not details.is_error


async def test_viewers_call_tools_when_the_setting_allows_it_but_still_change_nothing(
    run_hub: RunHub,
) -> None:
    async with run_hub({"echo": server_entry("echo")}, auth={"viewers_may_call_tools": True}) as running:
        callers = await every_kind_of_caller(running)
        viewer = callers.tokens["viewer"]
        assert viewer is not None
        await running.wait_for(lambda: running.hub.supervisor.runner("echo").state.status.serving)

        echoed = await call(running, viewer, "echo__echo", {"text": "hi"})
        listed = await call(running, viewer, "manage_servers", {"action": "list"})
        restarting = await call(running, viewer, "manage_servers", {"action": "restart", "name": "echo"})

    assert not echoed.is_error
    assert not listed.is_error
    assert isinstance(restarting, MCPError)
    assert restarting.code == FORBIDDEN
    assert restarting.message == "calling manage_servers needs the operator role; vera has the viewer role"


async def test_refused_tool_calls_are_audited_with_the_caller(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        callers = await every_kind_of_caller(running)
        viewer = callers.tokens["viewer"]
        assert viewer is not None
        await running.wait_for(lambda: running.hub.supervisor.runner("echo").state.status.serving)
        assert isinstance(await call(running, viewer, "echo__echo", {"text": "hi"}), MCPError)

        entries = await audit_entries(running, action="tool.call")

    assert [(entry["actor"], entry["target"], entry["outcome"]) for entry in entries] == [
        ("vera", "echo/echo", "forbidden")
    ]
