"""Cursor pagination and filters on every REST list, against a real hub with real servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from tests.api.authz_support import add_user, token_for
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

PARKED = {**server_entry("echo"), "disabled": True}
REMOTE = {"url": "http://127.0.0.1:9/mcp", "disabled": True}
WORKFLOWS = [f"wf.{index}" for index in range(5)]


def workflow(workflow_id: str) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "name": f"Echoes for {workflow_id}",
        "steps": [
            {"id": "first", "tool": "echo__echo", "args": {"text": "one"}},
            {"id": "second", "tool": "echo__echo", "args": {"text": "two"}, "dependencies": ["first"]},
        ],
    }


async def walk(client: httpx.AsyncClient, path: str, limit: int, **filters: Any) -> list[dict[str, Any]]:
    """Every item of a list, a page of at most ``limit`` at a time, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    with anyio.fail_after(30):
        while True:
            params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
            response = await client.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


async def whole(client: httpx.AsyncClient, path: str, **filters: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params={**filters, "limit": 1000})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def fill(running: RunningHub) -> str:
    """Workflows with executions, rejected pattern applications, users and tokens; returns an execution."""
    client = running.client
    await running.wait_for(lambda: running.hub.supervisor.runner("echo").state.status.serving)
    executions = []
    for workflow_id in WORKFLOWS:
        assert (await client.post("/api/v1/workflows", json=workflow(workflow_id))).status_code == 201
        for _ in range(2 if workflow_id == WORKFLOWS[0] else 1):
            started = await client.post(f"/api/v1/workflows/{workflow_id}/execute", json={})
            executions.append(started.json()["execution_id"])
    with anyio.fail_after(30):
        for execution_id in executions:
            await running.hub.workflows.wait_finished(execution_id)
    for target in ("ghost-1", "ghost-2", "ghost-3"):
        refused = await client.post("/api/v1/patterns/restart-and-verify/apply", json={"target": target})
        assert refused.status_code == 422, refused.text
    for index, role in enumerate(("viewer", "viewer", "operator", "admin", "viewer")):
        await add_user(client, f"user-{index}", role)
    for index in range(4):
        await token_for(client, role="viewer", name=f"token {index}")
    # The audit log is written in batches: wait for the last change, so the log stands still while walked.
    with anyio.fail_after(10):
        while True:
            logged = await client.get("/api/v1/audit", params={"action": "tokens.create"})
            if len(logged.json()["items"]) == 4:
                break
            await anyio.sleep(0.05)
    return executions[0]


LISTS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("/api/v1/servers", lambda item: item["name"]),
    ("/api/v1/tools", lambda item: item["name"]),
    ("/api/v1/workflows", lambda item: item["workflow_id"]),
    ("/api/v1/executions", lambda item: item["execution_id"]),
    ("/api/v1/patterns", lambda item: item["id"]),
    ("/api/v1/patterns/applications", lambda item: item["application_id"]),
    ("/api/v1/users", lambda item: item["name"]),
    ("/api/v1/tokens", lambda item: item["id"]),
    ("/api/v1/audit", lambda item: item["id"]),
]


async def test_every_list_walks_to_its_end_a_small_page_at_a_time_showing_each_item_once(
    run_hub: RunHub,
) -> None:
    servers = {"echo": server_entry("echo"), "parked-a": PARKED, "parked-b": PARKED, "remote": REMOTE}
    async with run_hub(servers) as running:
        execution_id = await fill(running)
        walked, wholes = {}, {}
        for path, key in LISTS:
            walked[path] = [key(item) for item in await walk(running.client, path, 2)]
            wholes[path] = [key(item) for item in await whole(running.client, path)]
        events_path = f"/api/v1/executions/{execution_id}/events"
        events = [event["seq"] for event in await walk(running.client, events_path, 3)]
        every_event = [event["seq"] for event in await whole(running.client, events_path)]
        later_events = [event["seq"] for event in await walk(running.client, events_path, 2, after=4)]

    for path, _ in LISTS:
        assert walked[path] == wholes[path], path
        assert len(set(walked[path])) == len(walked[path]), path
        assert len(walked[path]) >= 3, path  # more than one page of 2
    assert walked["/api/v1/servers"] == ["echo", "parked-a", "parked-b", "remote"]
    assert walked["/api/v1/workflows"] == WORKFLOWS
    assert len(walked["/api/v1/executions"]) == 6
    assert walked["/api/v1/patterns"] == ["restart-and-verify", "rolling-restart", "smoke-test"]
    assert walked["/api/v1/users"] == [f"user-{index}" for index in range(5)]
    assert len(walked["/api/v1/tokens"]) == 4
    assert events == every_event == list(range(1, len(every_event) + 1))
    assert later_events == every_event[4:]


async def test_filters_narrow_each_list(run_hub: RunHub) -> None:
    servers = {"echo": server_entry("echo"), "parked-a": PARKED, "remote": REMOTE}
    async with run_hub(servers) as running:
        await fill(running)
        client = running.client
        revoked = (await client.get("/api/v1/tokens")).json()["items"][0]["id"]
        assert (await client.delete(f"/api/v1/tokens/{revoked}")).status_code == 204

        def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
            return [item[key] for item in items]

        disabled = names(await walk(client, "/api/v1/servers", 1, enabled=False))
        by_status = names(await walk(client, "/api/v1/servers", 1, status="disabled"))
        over_http = names(await whole(client, "/api/v1/servers", transport="http"))
        healthy = names(await whole(client, "/api/v1/servers", status="healthy"))
        echo_tools = names(await walk(client, "/api/v1/tools", 1, server="echo"))
        of_first = await walk(client, "/api/v1/executions", 1, workflow_id=WORKFLOWS[0])
        failed = await whole(client, "/api/v1/executions", status="failed")
        completed_workflows = names(
            await walk(client, "/api/v1/workflows", 2, status="completed"), "workflow_id"
        )
        failed_workflows = await whole(client, "/api/v1/workflows", status="failed")
        tag_patterns = names(await whole(client, "/api/v1/patterns", target="tag"), "id")
        rejected = await walk(client, "/api/v1/patterns/applications", 1, status="rejected")
        of_other_pattern = await whole(client, "/api/v1/patterns/applications", pattern_id="smoke-test")
        viewers = names(await walk(client, "/api/v1/users", 1, role="viewer"))
        revoked_tokens = names(await walk(client, "/api/v1/tokens", 1, state="revoked"), "id")
        active_tokens = await walk(client, "/api/v1/tokens", 1, state="active")

    assert disabled == by_status == ["parked-a", "remote"]
    assert over_http == ["remote"]
    assert healthy == ["echo"]
    assert echo_tools == ["echo__add", "echo__echo", "echo__request_meta"]
    assert len(of_first) == 2 and {item["workflow_id"] for item in of_first} == {WORKFLOWS[0]}
    assert failed == []
    assert completed_workflows == WORKFLOWS and failed_workflows == []
    assert tag_patterns == ["rolling-restart"]
    assert len(rejected) == 3 and {item["status"] for item in rejected} == {"rejected"}
    assert of_other_pattern == []
    assert viewers == ["user-0", "user-1", "user-4"]
    assert revoked_tokens == [revoked]
    assert len(active_tokens) == 3 and revoked not in {item["id"] for item in active_tokens}


async def test_a_cursor_a_list_did_not_hand_out_is_a_422_problem(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED, "other": PARKED}) as running:
        client = running.client
        from_servers = (await client.get("/api/v1/servers", params={"limit": 1})).json()["next_cursor"]
        answers = {
            path: await client.get(path, params={"cursor": "not-a-cursor"})
            for path in ("/api/v1/servers", "/api/v1/tools", "/api/v1/users", "/api/v1/audit")
        }
        foreign = await client.get("/api/v1/users", params={"cursor": from_servers})
        too_large = await client.get("/api/v1/servers", params={"limit": 1001})

    assert from_servers is not None
    for path, response in answers.items():
        assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor"), path
        assert response.headers["content-type"] == "application/problem+json"
    assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_cursor")
    assert (too_large.status_code, too_large.json()["code"]) == (422, "invalid_request")
