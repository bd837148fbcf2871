"""The servers API against a real hub with real MCP server processes."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import psutil
import pytest

from corral.supervisor.state import ServerStatus
from tests.rig import RunHub, RunningHub
from tests.support import free_port, server_entry

pytestmark = pytest.mark.anyio

# Known to the hub but never started, for tests about specs rather than processes.
PARKED_ECHO = {**server_entry("echo"), "disabled": True}

DOCUMENTED_FIELDS = {
    "name",
    "transport",
    "status",
    "circuit_state",
    "consecutive_failures",
    "restarts",
    "pid",
    "last_error",
    "latency_ms",
    "uptime_s",
    "total_downtime_s",
    "tools",
}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


async def healthy_pid(running: RunningHub, name: str) -> int:
    body = (await running.client.get(f"/api/v1/servers/{name}")).json()
    assert body["status"] == "healthy"
    pid: int = body["pid"]
    assert psutil.pid_exists(pid)
    return pid


async def test_list_and_show_give_the_documented_fields_of_a_running_server(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_status("echo", ServerStatus.HEALTHY)

        listed = (await running.client.get("/api/v1/servers")).json()
        shown = (await running.client.get("/api/v1/servers/echo")).json()

        assert psutil.Process(shown["pid"]).cmdline()[-1].endswith("echo.py")
    (item,) = listed["items"]
    for body in (item, shown):
        assert DOCUMENTED_FIELDS <= set(body)
        assert (body["name"], body["transport"], body["status"]) == ("echo", "stdio", "healthy")
        assert (body["circuit_state"], body["consecutive_failures"], body["restarts"]) == ("closed", 0, 0)
        assert body["last_error"] is None
        assert body["latency_ms"] > 0
        assert body["uptime_s"] >= 0
        assert body["total_downtime_s"] == 0
        assert [tool["name"] for tool in body["tools"]] == ["echo", "add", "request_meta"]
        assert (body["enabled"], body["source"]) == (True, "config")


async def test_an_unknown_server_is_404_not_found_on_every_route(run_hub: RunHub) -> None:
    async with run_hub() as running:
        responses = [
            await running.client.get("/api/v1/servers/ghost"),
            await running.client.get("/api/v1/servers/ghost/logs"),
            await running.client.post("/api/v1/servers/ghost/restart"),
            await running.client.post("/api/v1/servers/ghost/enable"),
            await running.client.post("/api/v1/servers/ghost/disable"),
            await running.client.put("/api/v1/servers/ghost", json=server_entry("echo")),
            await running.client.delete("/api/v1/servers/ghost"),
        ]

    for response in responses:
        assert assert_problem(response, 404, "not_found")["detail"] == "no server named 'ghost'"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "bad", "config": {"command": "x", "max_concurrent": 0}}, "max_concurrent: Input should be"),
        ({"name": "bad", "config": {"command": "x", "lazy": "sometimes"}}, "lazy: Input should be a valid"),
        ({"name": "bad", "config": {"args": ["x"]}}, "config: a stdio server needs 'command'"),
        ({"name": "bad", "config": {"type": "http", "url": "ws://h/mcp"}}, "config: 'url' must start with"),
        ({"name": "bad", "config": {"type": "sse", "url": "http://h/sse"}}, "legacy SSE transport"),
        ({"name": "bad name", "config": {"command": "x"}}, "server name 'bad name' must be"),
        ({"name": "bad"}, "body.config: Field required"),
    ],
    ids=["out-of-range", "wrong-type", "no-command", "bad-url", "sse", "bad-name", "no-config"],
)
async def test_registering_a_bad_entry_is_422_naming_the_field(
    run_hub: RunHub, body: dict[str, Any], detail: str
) -> None:
    async with run_hub() as running:
        response = await running.client.post("/api/v1/servers", json=body)
        listed = (await running.client.get("/api/v1/servers")).json()

    problem = assert_problem(response, 422, response.json()["code"])
    assert problem["code"] in ("invalid_input", "invalid_request")
    assert detail in problem["detail"]
    assert listed["items"] == []


async def test_a_registered_server_is_stored_and_started(run_hub: RunHub) -> None:
    async with run_hub() as running:
        response = await running.client.post(
            "/api/v1/servers", json={"name": "echo", "config": {**server_entry("echo"), "tags": ["demo"]}}
        )
        await running.wait_status("echo", ServerStatus.HEALTHY)
        shown = (await running.client.get("/api/v1/servers/echo")).json()

    assert response.status_code == 201
    assert (response.json()["name"], response.json()["source"]) == ("echo", "api")
    assert (shown["status"], shown["tags"]) == ("healthy", ["demo"])


async def test_registering_a_taken_name_is_409_conflict(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running:
        response = await running.client.post(
            "/api/v1/servers", json={"name": "echo", "config": {"command": "x"}}
        )
        shown = (await running.client.get("/api/v1/servers/echo")).json()

    assert assert_problem(response, 409, "conflict")["detail"] == "a server named 'echo' already exists"
    assert shown["spec"]["command"] != "x"


async def test_disable_stops_the_process_and_enable_starts_a_new_one(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_status("echo", ServerStatus.HEALTHY)
        first_pid = await healthy_pid(running, "echo")

        disabled = await running.client.post("/api/v1/servers/echo/disable")
        await running.wait_status("echo", ServerStatus.DISABLED)
        after_disable = (await running.client.get("/api/v1/servers/echo")).json()
        first_gone = not psutil.pid_exists(first_pid)

        enabled = await running.client.post("/api/v1/servers/echo/enable")
        await running.wait_status("echo", ServerStatus.HEALTHY)
        second_pid = await healthy_pid(running, "echo")

    assert (disabled.status_code, disabled.json()["enabled"]) == (200, False)
    assert (after_disable["status"], after_disable["pid"], after_disable["enabled"]) == (
        "disabled",
        None,
        False,
    )
    assert first_gone
    assert (enabled.status_code, enabled.json()["enabled"]) == (200, True)
    assert second_pid != first_pid


async def test_restart_replaces_the_process_and_counts_the_restart(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_status("echo", ServerStatus.HEALTHY)
        first_pid = await healthy_pid(running, "echo")

        response = await running.client.post("/api/v1/servers/echo/restart")
        await running.wait_status("echo", ServerStatus.HEALTHY, restarts=1)
        second_pid = await healthy_pid(running, "echo")
        restarted = (await running.client.get("/api/v1/servers/echo")).json()

    assert response.status_code == 202
    assert second_pid != first_pid
    assert not psutil.pid_exists(first_pid)
    assert (restarted["restarts"], restarted["circuit_state"]) == (1, "closed")


async def test_update_replaces_the_spec_and_delete_forgets_the_server(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running:
        updated = await running.client.put("/api/v1/servers/echo", json={**PARKED_ECHO, "tags": ["v2"]})
        deleted = await running.client.delete("/api/v1/servers/echo")
        after = await running.client.get("/api/v1/servers/echo")

    assert (updated.status_code, updated.json()["tags"], updated.json()["source"]) == (200, ["v2"], "config")
    assert deleted.status_code == 204
    assert_problem(after, 404, "not_found")


async def test_logs_return_the_server_stderr_and_the_hubs_started_pid_note(run_hub: RunHub) -> None:
    # An unknown argument makes the test server print argparse's complaint on stderr and exit.
    async with run_hub({"broken": server_entry("echo", "--no-such-flag")}) as running:
        runner = running.hub.supervisor.runner("broken")

        def complained() -> bool:
            return any("unrecognized arguments" in line.text for line in runner.logs.tail())

        await running.wait_for(complained)
        logs = (await running.client.get("/api/v1/servers/broken/logs")).json()
        one = (await running.client.get("/api/v1/servers/broken/logs", params={"limit": 1})).json()
        zero = await running.client.get("/api/v1/servers/broken/logs", params={"limit": 0})

    texts = [line["text"] for line in logs["lines"]]
    assert logs["name"] == "broken"
    assert any(
        text.startswith("[corral] started pid ") and "echo.py --no-such-flag" in text for text in texts
    )
    assert any("error: unrecognized arguments: --no-such-flag" in text for text in texts)
    assert len(one["lines"]) == 1
    assert "limit" in assert_problem(zero, 422, "invalid_request")["detail"]


async def test_secrets_in_env_and_headers_never_appear_in_api_responses(
    run_hub: RunHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = "sk-secret-123"
    stdio = {**server_entry("echo"), "env": {"API_KEY": secret}}
    http = {"type": "http", "url": f"http://127.0.0.1:{free_port()}/mcp", "headers": {"X-Api-Key": secret}}
    async with run_hub() as running:
        client = running.client
        responses = [
            await client.post("/api/v1/servers", json={"name": "stdio", "config": stdio}),
            await client.post("/api/v1/servers", json={"name": "remote", "config": http}),
        ]
        await running.wait_status("stdio", ServerStatus.HEALTHY)
        await running.wait_status("remote", ServerStatus.DISCONNECTED)
        responses += [
            await client.get("/api/v1/servers"),
            await client.put("/api/v1/servers/remote", json={**http, "tags": ["x"]}),
            await client.post("/api/v1/servers/remote/restart"),
            await client.post("/api/v1/servers/remote/disable"),
            await client.post("/api/v1/servers/remote/enable"),
            await client.post("/api/v1/servers", json={"name": "stdio", "config": stdio}),
        ]
        for name in ("stdio", "remote"):
            responses += [
                await client.get(f"/api/v1/servers/{name}"),
                await client.get(f"/api/v1/servers/{name}/logs"),
            ]

    shown = {body["name"]: body for body in responses[2].json()["items"]}
    assert shown["stdio"]["spec"]["env"] == {"API_KEY": "***"}
    assert shown["remote"]["spec"]["headers"] == {"X-Api-Key": "***"}
    assert shown["remote"]["last_error"]
    for response in responses:
        assert secret not in response.text, (response.request.method, response.request.url)
    assert secret not in caplog.text
