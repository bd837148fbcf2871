"""The tools resource: what the gateway exposes, over REST, and calls through the gateway's own path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from corral.supervisor.state import ServerStatus
from tests.api.authz_support import add_user, audit_entries, bearer, login, token_for
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio


async def serving(running: RunningHub, *names: str) -> None:
    for name in names:
        await running.wait_for(lambda name=name: running.hub.supervisor.runner(name).state.status.serving)


async def token_of(running: RunningHub, user: str, role: str) -> str:
    await add_user(running.client, user, role)
    async with running.anonymous() as anon:
        anon.headers.update(bearer(await login(anon, user)))
        return (await token_for(anon, role=role))["token"]


async def names(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get("/api/v1/tools", params=params)
    assert response.status_code == 200, response.text
    return [tool["name"] for tool in response.json()["items"]]


def calls_of(running: RunningHub, server: str, tool: str) -> dict[str, Any]:
    stats = running.hub.gateway.metrics.snapshot()
    return next(item for item in stats if (item["server"], item["tool"]) == (server, tool))


async def test_tools_are_listed_described_and_called_through_the_gateway(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await serving(running, "echo")
        listed = (await running.client.get("/api/v1/tools", params={"server": "echo"})).json()
        one = await running.client.get("/api/v1/tools/echo__echo")
        called = await running.client.post(
            "/api/v1/tools/echo__echo/call", json={"arguments": {"text": "hi"}}
        )
        entries = await audit_entries(running, action="tool.call")
        metrics = calls_of(running, "echo", "echo")

    assert [tool["name"] for tool in listed["items"]] == ["echo__add", "echo__echo", "echo__request_meta"]
    assert listed["next_cursor"] is None
    tool = one.json()
    assert one.status_code == 200 and tool == next(
        item for item in listed["items"] if item["name"] == "echo__echo"
    )
    assert (tool["server"], tool["original_name"], tool["description"]) == (
        "echo",
        "echo",
        "Return the text unchanged",
    )
    assert tool["input_schema"]["properties"]["text"]["type"] == "string"
    assert tool["annotations"] == {"readOnlyHint": True, "idempotentHint": True}
    assert called.status_code == 200, called.text
    assert called.json()["isError"] is False
    assert called.json()["content"] == [{"type": "text", "text": "hi"}]
    assert [(entry["actor"], entry["target"], entry["outcome"]) for entry in entries] == [
        ("admin", "echo/echo", "ok")
    ]
    assert metrics["outcomes"] == {"ok": 1}


async def test_bad_arguments_are_a_422_naming_the_field_and_an_unknown_tool_a_404(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await serving(running, "echo")
        wrong_type = await running.client.post(
            "/api/v1/tools/echo__add/call", json={"arguments": {"a": 1, "b": "x"}}
        )
        missing = await running.client.post("/api/v1/tools/echo__echo/call", json={"arguments": {}})
        unknown = await running.client.get("/api/v1/tools/echo__nope")
        unknown_call = await running.client.post("/api/v1/tools/echo__nope/call", json={"arguments": {}})
        await running.client.post("/api/v1/tools/made_up/call", json={"arguments": {}})
        refused = {entry["outcome"] for entry in await audit_entries(running, 4, action="tool.call")}
        metrics = calls_of(running, "echo", "add")
        unknown_metrics = calls_of(running, "-", "(unknown)")
        counted_tools = {item["tool"] for item in running.hub.gateway.metrics.snapshot()}

    assert (wrong_type.status_code, wrong_type.json()["code"]) == (422, "invalid_arguments")
    assert wrong_type.json()["detail"] == "invalid arguments for echo__add: b: 'x' is not of type 'number'"
    assert (missing.status_code, missing.json()["code"]) == (422, "invalid_arguments")
    assert "'text' is a required property" in missing.json()["detail"]
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_tool")
    assert (unknown_call.status_code, unknown_call.json()["code"]) == (404, "unknown_tool")
    assert unknown.headers["content-type"] == "application/problem+json"
    assert refused >= {"invalid_arguments", "unknown_tool"}
    assert metrics["outcomes"] == {"invalid_arguments": 1}
    # Callers choose unknown names: they are counted under one label, not one each.
    assert unknown_metrics["outcomes"] == {"unknown_tool": 2}
    assert counted_tools.isdisjoint({"echo__nope", "made_up"})


async def test_a_tool_that_fails_answers_200_with_is_error(run_hub: RunHub) -> None:
    async with run_hub({"flaky": server_entry("flaky")}) as running:
        await serving(running, "flaky")
        failed = await running.client.post("/api/v1/tools/flaky__fail_always/call", json={"arguments": {}})

    assert failed.status_code == 200, failed.text
    assert failed.json()["isError"] is True
    assert "fail_always always fails" in failed.json()["content"][0]["text"]


async def test_a_viewer_lists_tools_but_calls_none_unless_the_setting_allows_it(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await serving(running, "echo")
        viewer = await token_of(running, "vera", "viewer")
        operator = await token_of(running, "otto", "operator")
        async with running.anonymous() as anon:
            anon.headers.update(bearer(viewer))
            listed = await names(anon, server="echo")
            refused = await anon.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "hi"}})
            refused_own = await anon.post("/api/v1/tools/get_system_health/call", json={"arguments": {}})
            anon.headers.update(bearer(operator))
            allowed = await anon.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "hi"}})
        entries = await audit_entries(running, 2, action="tool.call", actor="vera")

    async with run_hub({"echo": server_entry("echo")}, auth={"viewers_may_call_tools": True}) as running:
        await serving(running, "echo")
        async with running.anonymous() as anon:
            anon.headers.update(bearer(await login(anon, "vera")))
            allowed_by_setting = await anon.post(
                "/api/v1/tools/echo__echo/call", json={"arguments": {"text": "hi"}}
            )
            still_refused = await anon.post(
                "/api/v1/tools/manage_servers/call", json={"arguments": {"action": "restart", "name": "echo"}}
            )

    assert "echo__echo" in listed
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert refused.json()["detail"] == (
        "calling echo__echo needs the operator role; vera has the viewer role"
        " (viewers may list tools but not call them)"
    )
    assert (refused_own.status_code, refused_own.json()["code"]) == (403, "forbidden")
    assert allowed.status_code == 200 and allowed.json()["isError"] is False
    assert {(entry["target"], entry["outcome"]) for entry in entries} == {
        ("echo/echo", "forbidden"),  # the server and its own name of the tool, as for any call
        ("corral/get_system_health", "forbidden"),
    }
    assert allowed_by_setting.status_code == 200 and allowed_by_setting.json()["isError"] is False
    assert (still_refused.status_code, still_refused.json()["code"]) == (403, "forbidden")


async def test_a_call_to_a_server_with_an_open_circuit_is_a_503_naming_its_state(run_hub: RunHub) -> None:
    async with run_hub({"hanging": server_entry("hanging")}) as running:
        # Fast health checks from the start, so the circuit opens within a second of the server starting.
        changed = await running.client.patch(
            "/api/v1/settings",
            json={"ping_interval_s": 0.2, "ping_timeout_s": 0.2, "failure_threshold": 2, "cooldown_s": 60},
        )
        assert changed.status_code == 200, changed.text
        await running.wait_status("hanging", ServerStatus.CIRCUIT_OPEN)
        described = await running.client.get("/api/v1/tools/hanging__noop")
        refused = await running.client.post("/api/v1/tools/hanging__noop/call", json={"arguments": {}})

    assert described.status_code == 200
    assert refused.status_code == 503
    problem = refused.json()
    assert (problem["code"], problem["server"]) == ("circuit_open", "hanging")
    assert (problem["server_status"], problem["circuit_state"]) == ("circuit_open", "open")
    assert "server 'hanging' is unavailable: circuit open" in problem["detail"]


async def test_tool_filters_narrow_the_list_and_pages_walk_it_once(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo"), "flaky": server_entry("flaky")}) as running:
        await serving(running, "echo", "flaky")
        everything = await names(running.client, limit="1000")
        by_description = await names(running.client, q="UNCHANGED")
        by_name = await names(running.client, q="fail_")
        own = await names(running.client, server="corral")
        nobody = await names(running.client, server="ghost")
        walked, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await running.client.get("/api/v1/tools", params=params)).json()
            assert len(page["items"]) <= 2
            walked += [tool["name"] for tool in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        from_servers = await running.client.get("/api/v1/servers", params={"limit": 1})
        foreign = await running.client.get(
            "/api/v1/tools", params={"cursor": from_servers.json()["next_cursor"]}
        )

    assert everything == sorted(everything) and {"echo__echo", "flaky__flaky", "manage_servers"} <= set(
        everything
    )
    assert walked == everything
    assert by_description == ["echo__echo"]
    assert by_name == ["flaky__fail_always"]
    assert "get_system_health" in own and not any("__" in name for name in own)
    assert nobody == []
    assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_cursor")
