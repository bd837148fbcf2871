"""The WebSocket event stream against a real hub: snapshot, ordered events, filters, resume, reset."""

from __future__ import annotations

import pytest

from tests.events.conftest import RunStreamHub, closed_with, receive, receive_events
from tests.support import server_entry

pytestmark = pytest.mark.anyio

PARKED_ECHO = {**server_entry("echo"), "disabled": True}


async def test_a_client_gets_a_snapshot_then_events_in_id_order(stream_hub: RunStreamHub) -> None:
    async with stream_hub({"echo": PARKED_ECHO}) as running, running.connect() as ws:
        snapshot = await receive(ws)
        ids = running.publish(5)
        events = await receive_events(ws, 5)

    assert ws.subprotocol == "bearer"
    assert snapshot["type"] == "snapshot"
    assert snapshot["topics"] == ["audit", "executions", "metrics", "nodes", "servers", "tasks", "workflows"]
    assert [server["name"] for server in snapshot["servers"]] == ["echo"]
    assert snapshot["servers"][0]["status"] == "disabled"
    assert (snapshot["executions"], snapshot["tasks"]) == ([], [])
    assert [node["name"] for node in snapshot["nodes"]] == [running.hub.node.name]
    assert [event["id"] for event in events] == ids
    assert ids[0] > snapshot["last_event_id"]
    assert [event["data"]["n"] for event in events] == [0, 1, 2, 3, 4]
    assert set(events[0]) == {"id", "topic", "type", "subject", "time", "data"}


async def test_a_client_gets_only_the_topics_and_subjects_it_asked_for(stream_hub: RunStreamHub) -> None:
    async with (
        stream_hub({"echo": PARKED_ECHO, "other": PARKED_ECHO}) as running,
        running.connect(topics="servers:echo,metrics") as ws,
    ):
        snapshot = await receive(ws)
        running.publish(1, topic="servers", subject="other")
        running.publish(1, topic="audit", subject="echo")
        wanted = [*running.publish(1, topic="servers", subject="echo"), *running.publish(1, topic="metrics")]
        events = await receive_events(ws, 2)

    assert snapshot["topics"] == ["metrics", "servers:echo"]
    assert [server["name"] for server in snapshot["servers"]] == ["echo"]
    assert "executions" not in snapshot
    assert [event["id"] for event in events] == wanted


async def test_a_token_in_the_query_opens_the_stream_too(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running, running.connect(via="query") as ws:
        snapshot = await receive(ws)

    assert ws.subprotocol is None
    assert snapshot["type"] == "snapshot"


@pytest.mark.parametrize("memory_events", [10_000, 0], ids=["from-memory", "from-the-store"])
async def test_a_client_that_reconnects_gets_every_missed_event_once(
    stream_hub: RunStreamHub, memory_events: int
) -> None:
    async with stream_hub(memory_events=memory_events) as running:
        async with running.connect(topics="metrics") as ws:
            await receive(ws)
            first = running.publish(10)
            before = await receive_events(ws, 4)
            ws.transport.abort()  # the network drops: no close handshake
        missed = running.publish(10)
        last_seen = before[-1]["id"]
        async with running.connect(topics="metrics", last_event_id=last_seen) as ws:
            resumed = await receive_events(ws, 16)
            later = running.publish(3)
            live = await receive_events(ws, 3)
        stored = await running.stored_ids(after=first[0] - 1)

    received = [event["id"] for event in [*before, *resumed, *live]]
    assert received == [*first, *missed, *later]
    assert received == stored
    assert len(set(received)) == len(received)


async def test_a_client_too_far_behind_is_told_to_reset_and_gets_a_new_snapshot(
    stream_hub: RunStreamHub,
) -> None:
    async with stream_hub(memory_events=0) as running:
        async with running.connect(topics="metrics") as ws:
            await receive(ws)
            ids = running.publish(20)
            await receive_events(ws, 20)
        await running.hub.live_settings.update({"events_keep_rows": 5})
        await running.hub.pruner.prune()
        async with running.connect(topics="metrics", last_event_id=ids[0]) as ws:
            reset = await receive(ws)
            snapshot = await receive(ws)
            later = running.publish(1)
            live = await receive_events(ws, 1)

    assert reset["type"] == "reset"
    assert "no longer kept" in reset["reason"]
    assert snapshot["type"] == "snapshot"
    assert snapshot["last_event_id"] == ids[-1]
    assert [event["id"] for event in live] == later


async def test_a_last_event_id_the_hub_never_gave_is_a_reset(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running, running.connect(last_event_id=10**9) as ws:
        reset = await receive(ws)
        snapshot = await receive(ws)

    assert reset["type"] == "reset"
    assert "newer than the newest" in reset["reason"]
    assert snapshot["type"] == "snapshot"


async def test_a_resuming_client_that_missed_nothing_gets_only_new_events(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running:
        async with running.connect(topics="metrics") as ws:
            await receive(ws)
            ids = running.publish(3)
            await receive_events(ws, 3)
        async with running.connect(topics="metrics", last_event_id=ids[-1]) as ws:
            later = running.publish(2)
            first = await receive(ws)
            second = await receive(ws)

    assert [first["id"], second["id"]] == later


async def test_ids_continue_after_a_restart_and_a_client_resumes_across_it(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running, running.connect(topics="metrics") as ws:
        await receive(ws)
        before = running.publish(3)
        seen = await receive_events(ws, 1)
        missed_before = before[1:]
    async with stream_hub() as running:
        after = running.publish(2)
        async with running.connect(topics="metrics", last_event_id=seen[0]["id"]) as ws:
            resumed = await receive_events(ws, 4)

    assert after[0] > before[-1]
    assert [event["id"] for event in resumed] == [*missed_before, *after]


async def test_bad_topics_or_event_ids_are_closed_with_4400_and_a_reason(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running:
        results = []
        for params in ({"topics": "servers,weather"}, {"topics": "servers:"}, {"last_event_id": "-1"}):
            async with running.connect(**params) as ws:
                results.append(await closed_with(ws))

    assert [(code, seen) for code, _, seen in results] == [(4400, [])] * 3
    assert "unknown topic 'weather'" in results[0][1]
    assert "needs a subject" in results[1][1]
    assert "last_event_id" in results[2][1]


async def test_a_client_resumes_from_the_store_on_either_backend(
    stream_hub: RunStreamHub, store_url: str
) -> None:
    async with stream_hub(store_url=store_url, memory_events=0) as running:
        async with running.connect(topics="metrics") as ws:
            await receive(ws)
            first = running.publish(3)
            seen = await receive_events(ws, 1)
        missed = running.publish(3)
        async with running.connect(topics="metrics", last_event_id=seen[0]["id"]) as ws:
            resumed = await receive_events(ws, 5)
        stored = await running.stored_ids(after=first[0] - 1)

    assert [event["id"] for event in [*seen, *resumed]] == [*first, *missed] == stored


async def test_a_batching_client_gets_waiting_events_together_in_order(stream_hub: RunStreamHub) -> None:
    async with stream_hub() as running, running.connect(topics="metrics", batch=1) as ws:
        await receive(ws)
        ids = running.publish(50)
        messages = []
        received: list[int] = []
        while len(received) < 50:
            message = await receive(ws)
            messages.append(message)
            received += [event["id"] for event in message.get("events", [message])]

    assert received == ids
    assert messages[0]["type"] == "events"
    assert len(messages) < 50
