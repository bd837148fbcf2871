"""A client that stops reading is cut off with 4503; the hub and the other clients do not wait for it."""

from __future__ import annotations

import statistics
import time

import anyio
import pytest
from websockets.asyncio.client import ClientConnection

from tests.events.conftest import RunStreamHub, StreamHub, closed_with, receive, receive_events

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PAD = "x" * 4000


async def latencies(running: StreamHub, ws: ClientConnection, count: int) -> list[float]:
    """Seconds from publishing an event to its arrival at ``ws``, ``count`` times."""
    measured = []
    for _ in range(count):
        started = time.perf_counter()
        (sent,) = running.publish(1)
        (got,) = await receive_events(ws, 1)
        measured.append(time.perf_counter() - started)
        assert got["id"] == sent
    return measured


async def test_a_client_that_never_reads_is_cut_off_and_does_not_delay_a_fast_one(
    stream_hub: RunStreamHub,
) -> None:
    async with (
        stream_hub(client_buffer_events=200, memory_events=100, send_timeout_s=60) as running,
        running.connect(topics="metrics") as fast,
    ):
        await receive(fast)
        alone = await latencies(running, fast, 30)
        # max_queue=1: the client library stops reading the socket once one message waits unread.
        async with running.connect(topics="metrics", max_queue=1) as slow:
            await receive(slow)  # its snapshot: it follows the log now, and reads nothing more
            beside_slow: list[float] = []
            flooded = 0
            with anyio.fail_after(60):
                while running.hub.event_log.slow_cut_offs == 0:
                    for _ in range(100):
                        running.hub.bus.publish("metrics", "test.flood", "hub", {"pad": PAD})
                    flooded += 100
                    await receive_events(fast, 100, type="test.flood")
                    beside_slow += await latencies(running, fast, 1)
            after = await latencies(running, fast, 30)
            code, reason, _ = await closed_with(slow, within=30)

    assert code == 4503
    assert reason.startswith("slow consumer: more than 200 events waiting; resume with last_event_id=")
    assert running.hub.event_log.slow_cut_offs == 1
    # Generous: the same order of magnitude as without the slow client, whatever the machine.
    bound = max(0.5, 20 * statistics.median(alone))
    assert statistics.median(beside_slow) < bound, (alone, beside_slow)
    assert statistics.median(after) < bound, (alone, after)
    print(
        f"flooded {flooded} events of 4 kB; fast client p50 alone {statistics.median(alone) * 1000:.2f} ms, "
        f"beside the slow one {statistics.median(beside_slow) * 1000:.2f} ms"
    )


async def test_a_client_that_stops_reading_is_cut_off_when_nothing_can_be_sent_for_the_send_timeout(
    stream_hub: RunStreamHub,
) -> None:
    # A buffer far larger than what is published: only the send timeout can notice this client.
    settings = {"client_buffer_events": 100_000, "memory_events": 100, "ping_interval_s": 0.2}
    async with (
        stream_hub(**settings, send_timeout_s=2) as running,
        running.connect(topics="metrics", max_queue=1) as slow,
    ):
        await receive(slow)
        for _ in range(3000):
            running.hub.bus.publish("metrics", "test.flood", "hub", {"pad": PAD})
        await running.wait_for(lambda: running.hub.event_log.followers == 0)
        code, reason, _ = await closed_with(slow, within=30)

    assert code == 4503
    assert reason.startswith("slow consumer: nothing could be sent for 2 s; resume with last_event_id=")
    assert running.hub.event_log.slow_cut_offs == 0  # its buffer never overflowed
