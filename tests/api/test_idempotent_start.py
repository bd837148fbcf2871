"""A client that lost the answer to "start" retries without starting twice: a chosen execution id."""

from __future__ import annotations

import json

import anyio
import pytest

from tests.api.mcp_support import mcp_session
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

DEFINITION = {
    "workflow_id": "once",
    "name": "Says hello once",
    "params": {"who": {"type": "string", "default": "world"}},
    "steps": [{"id": "hello", "tool": "echo__echo", "args": {"text": "hello {{ params.who }}"}}],
}


async def executions(running: RunningHub) -> list[str]:
    """The ids of every execution, once each has finished (a hub is not stopped mid-run)."""
    listed = (await running.client.get("/api/v1/executions")).json()["items"]
    ids = [execution["execution_id"] for execution in listed]
    with anyio.fail_after(30):
        for execution_id in ids:
            await running.hub.workflows.wait_finished(execution_id)
    return ids


async def test_a_retry_with_the_same_execution_id_returns_the_execution_it_started(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        client = running.client
        assert (await client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        request = {"parameters": {"who": "you"}, "execution_id": "order-42"}

        first = await client.post("/api/v1/workflows/once/execute", json=request)
        again = await client.post("/api/v1/workflows/once/execute", json=request)
        # Defaults count as given: the same run, said another way.
        spelled_out = await client.post(
            "/api/v1/workflows/once/execute", json={**request, "parameters": {"who": "you"}, "version": 1}
        )
        started = await executions(running)

    assert first.status_code == 202
    assert first.json()["execution_id"] == "order-42"
    assert first.json()["created"] is True
    assert again.status_code == 200
    assert again.json()["execution_id"] == "order-42"
    assert again.json()["created"] is False
    assert spelled_out.status_code == 200
    assert started == ["order-42"]


async def test_the_idempotency_key_header_is_the_execution_id(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        client = running.client
        assert (await client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        key = {"Idempotency-Key": "key-7"}

        first = await client.post("/api/v1/workflows/once/execute", json={}, headers=key)
        again = await client.post("/api/v1/workflows/once/execute", json={}, headers=key)
        both = await client.post(
            "/api/v1/workflows/once/execute", json={"execution_id": "other"}, headers=key
        )
        malformed = await client.post(
            "/api/v1/workflows/once/execute", json={}, headers={"Idempotency-Key": "no spaces/please"}
        )
        started = await executions(running)

    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["execution_id"] == again.json()["execution_id"] == "key-7"
    assert both.status_code == 422
    assert malformed.status_code == 422
    assert started == ["key-7"]


async def test_the_same_execution_id_for_another_request_is_a_conflict(run_hub: RunHub) -> None:
    other = {**DEFINITION, "workflow_id": "other"}
    async with run_hub({"echo": server_entry("echo")}) as running:
        client = running.client
        for definition in (DEFINITION, other):
            assert (await client.post("/api/v1/workflows", json=definition)).status_code == 201
        first = await client.post("/api/v1/workflows/once/execute", json={"execution_id": "x1"})

        other_params = await client.post(
            "/api/v1/workflows/once/execute", json={"execution_id": "x1", "parameters": {"who": "me"}}
        )
        other_workflow = await client.post("/api/v1/workflows/other/execute", json={"execution_id": "x1"})
        other_machines = await client.post(
            "/api/v1/workflows/once/execute", json={"execution_id": "x1", "target_machines": ["gpu-1"]}
        )
        started = await executions(running)

    assert first.status_code == 202
    for refused in (other_params, other_workflow, other_machines):
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "conflict"
    assert other_params.json()["detail"] == (
        "execution 'x1' exists and was started with other parameters; "
        "choose another execution_id for a new run"
    )
    assert "workflow 'once'" in other_workflow.json()["detail"]
    assert started == ["x1"]


async def test_twin_requests_at_once_start_one_execution(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        client = running.client
        assert (await client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        statuses: list[int] = []

        async def start() -> None:
            response = await client.post("/api/v1/workflows/once/execute", json={"execution_id": "twin"})
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(start)
        started = await executions(running)

    assert sorted(statuses) == [200] * 7 + [202]
    assert started == ["twin"]


async def test_execute_workflow_over_mcp_takes_an_execution_id_too(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        assert (await running.client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        token = running.hub.admin_token
        assert token is not None
        arguments = {"workflow_id": "once", "execution_id": "from-mcp"}
        async with mcp_session(running, token) as client:
            first = await client.call_tool("execute_workflow", arguments)
            again = await client.call_tool("execute_workflow", arguments)
            clash = await client.call_tool("execute_workflow", {**arguments, "parameters": {"who": "me"}})
        started = await executions(running)

    assert first.structured_content is not None and again.structured_content is not None
    assert first.structured_content["created"] is True
    assert again.structured_content["execution_id"] == "from-mcp"
    assert again.structured_content["created"] is False
    assert clash.is_error
    assert "started with other parameters" in json.dumps(clash.content[0].model_dump())
    assert started == ["from-mcp"]
