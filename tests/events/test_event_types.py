"""Following only some event types, and learning an execution's outcome from its last event alone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.events.conftest import RunStreamHub, StreamHub, closed_with, receive, receive_events
from tests.support import server_entry

pytestmark = pytest.mark.anyio

FINAL = "execution.completed,execution.failed,execution.cancelled"


def publish(running: StreamHub, *types: str) -> list[int]:
    return [running.hub.bus.publish("metrics", type_, "test", {}).id for type_ in types]


async def test_a_client_gets_only_the_event_types_it_asked_for(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running, running.connect(topics="metrics", types="test.wanted,probe.*") as ws:
        snapshot = await receive(ws)
        ids = publish(
            running, "test.event", "test.wanted", "probe.one", "probes.not", "probe.two", "test.event"
        )
        events = await receive_events(ws, 3, type=None)

    assert snapshot["types"] == ["test.wanted", "probe.*"]
    assert [(event["id"], event["type"]) for event in events] == [
        (ids[1], "test.wanted"),
        (ids[2], "probe.one"),
        (ids[4], "probe.two"),
    ]


@pytest.mark.parametrize("memory_events", [10_000, 0], ids=["from-memory", "from-the-store"])
async def test_a_resuming_client_gets_only_the_missed_events_of_its_types(
    stream_hub: RunStreamHub, memory_events: int
) -> None:
    async with stream_hub(memory_events=memory_events) as running:
        async with running.connect(topics="metrics", types="test.wanted") as ws:
            await receive(ws)
            first = publish(running, "test.wanted")
            await receive_events(ws, 1, type=None)
        missed = publish(running, "test.event", "test.wanted", "test_wanted", "test.event", "test.wanted")
        async with running.connect(topics="metrics", types="test.wanted", last_event_id=first[0]) as ws:
            resumed = await receive_events(ws, 2, type=None)
            live = publish(running, "test.event", "test.wanted")
            after = await receive_events(ws, 1, type=None)

    assert [event["id"] for event in [*resumed, *after]] == [missed[1], missed[4], live[1]]


async def test_event_types_that_are_not_types_are_closed_with_4400(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running:
        results = []
        for types in ("Execution.completed", "execution.*.x", " , "):
            async with running.connect(types=types) as ws:
                results.append(await closed_with(ws))

    assert [(code, seen) for code, _, seen in results] == [(4400, [])] * 3
    assert "'Execution.completed' is not an event type" in results[0][1]


def workflow(workflow_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "name": workflow_id, "steps": steps}


async def outcome_of(running: StreamHub, workflow_id: str, execution_id: str) -> list[dict[str, Any]]:
    """Every event a client waiting for ``execution_id``'s outcome gets, from its start to its end."""
    headers = {"Authorization": f"Bearer {running.token}"}
    async with (
        httpx.AsyncClient(base_url=running.url, headers=headers, timeout=10) as client,
        running.connect(topics=f"executions:{execution_id}", types=FINAL) as ws,
    ):
        snapshot = await receive(ws)
        assert snapshot["executions"] == []  # not started yet: the client chose the id
        started = await client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={"execution_id": execution_id}
        )
        assert started.status_code == 202, started.text
        return await receive_events(ws, 1, within=30, type=None)


async def test_the_final_event_of_an_execution_carries_its_status_and_result(
    stream_hub: RunStreamHub,
) -> None:
    steps = [
        {"id": "hello", "tool": "echo__echo", "args": {"text": "hello"}},
        {"id": "sum", "tool": "echo__add", "args": {"a": 2, "b": 3}, "dependencies": ["hello"]},
    ]
    async with stream_hub({"echo": server_entry("echo")}) as running:
        assert await running.hub.wait_ready(30)
        await running.hub.workflows.create(workflow("greets", steps))
        [event] = await outcome_of(running, "greets", "greeting-1")

    assert event["type"] == "execution.completed"
    assert event["subject"] == "greeting-1"
    assert event["data"]["status"] == "completed"
    assert event["data"]["error"] is None
    assert event["data"]["result"] == {"hello": "hello", "sum": 5}


async def test_the_final_event_of_a_failed_execution_carries_the_error(stream_hub: RunStreamHub) -> None:
    steps = [{"id": "check", "tool": "corral__assert", "args": {"that": False, "message": "no disk left"}}]
    async with stream_hub() as running:
        await running.hub.workflows.create(workflow("fails", steps))
        [event] = await outcome_of(running, "fails", "failing-1")

    assert event["type"] == "execution.failed"
    assert event["data"]["status"] == "failed"
    assert "no disk left" in event["data"]["error"]
    assert event["data"]["result"] == {"check": None}


async def test_a_large_result_is_referred_to_rather_than_carried(stream_hub: RunStreamHub) -> None:
    big = "x" * 40_000
    steps = [{"id": "big", "tool": "echo__echo", "args": {"text": big}}]
    async with stream_hub({"echo": server_entry("echo")}) as running:
        assert await running.hub.wait_ready(30)
        await running.hub.workflows.create(workflow("big", steps))
        [event] = await outcome_of(running, "big", "big-1")
        headers = {"Authorization": f"Bearer {running.token}"}
        async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=10) as client:
            referred = (await client.get(event["data"]["result_ref"])).json()

    assert event["data"]["status"] == "completed"
    assert event["data"]["result"] is None
    assert event["data"]["result_bytes"] > 40_000
    assert event["data"]["result_ref"] == "/api/v1/executions/big-1"
    assert referred["result"] == {"big": big}
