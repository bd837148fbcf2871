"""The event log on SQLite and PostgreSQL: stored in id order, ids that survive restarts, replay, pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio
import pytest

from corral.clock import ManualClock
from corral.config.settings import EventStreamSettings
from corral.db.engine import Database
from corral.db.pruning import Cut, delete_rows, older_than, oldest, over_count
from corral.events.bus import EventBus
from corral.events.log import CutOff, EventLog, Follower, ReplayGap
from corral.events.models import Event
from corral.events.retention import EVENTS
from corral.events.store import EventStore
from corral.events.topics import TopicFilter

pytestmark = pytest.mark.anyio

EVERYTHING = TopicFilter.everything(admin=True)

RunLog = Callable[..., AbstractAsyncContextManager[tuple[EventBus, EventLog]]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def run_log(database: Database, clock: ManualClock) -> RunLog:
    """A bus and its running event log over the test's store; a second one is a restart."""

    @asynccontextmanager
    async def run(**settings: Any) -> AsyncIterator[tuple[EventBus, EventLog]]:
        bus = EventBus(clock)
        log = EventLog(EventStore(database), bus, EventStreamSettings(**settings), clock)
        async with anyio.create_task_group() as tg:
            await tg.start(log.run)
            yield bus, log
            tg.cancel_scope.cancel()

    return run


async def stored(follower: Follower, count: int) -> list[Event]:
    """The next ``count`` events a follower gets: each one is in the store by then."""
    with anyio.fail_after(10):
        return [await follower.events.receive() for _ in range(count)]


async def replayed(log: EventLog, after: int, upto: int, topics: TopicFilter = EVERYTHING) -> list[int]:
    return [event.id for batch in [b async for b in log.replay(after, upto, topics)] for event in batch]


async def test_events_are_stored_with_the_bus_ids_in_order(run_log: RunLog, database: Database) -> None:
    async with run_log() as (bus, log), log.follow(100, EVERYTHING) as follower:
        published = [bus.publish("servers", "server.status", f"s{i}", {"i": i}) for i in range(30)]
        delivered = await stored(follower, 30)

    rows = await EventStore(database).page(0, 1000, None, 1000)
    assert [event.id for event in delivered] == [event.id for event in published] == list(range(1, 31))
    assert [(row.id, row.subject, row.data) for row in rows] == [
        (event.id, event.subject, event.data) for event in published
    ]
    assert rows[0].time == published[0].time


async def test_ids_continue_after_the_newest_stored_one_after_a_restart(run_log: RunLog) -> None:
    async with run_log() as (bus, log), log.follow(100, EVERYTHING) as follower:
        for _ in range(5):
            bus.publish("metrics", "metrics.tick", "hub")
        await stored(follower, 5)

    async with run_log() as (bus, log), log.follow(100, EVERYTHING) as follower:
        event = bus.publish("metrics", "metrics.tick", "hub")
        (delivered,) = await stored(follower, 1)
        resumed = await replayed(log, 2, delivered.id)

    assert follower.head == 5
    assert event.id == delivered.id == 6
    assert resumed == [3, 4, 5, 6]


async def test_the_last_events_are_stored_when_the_log_stops(run_log: RunLog, database: Database) -> None:
    async with run_log() as (bus, _):
        for _ in range(50):
            bus.publish("metrics", "metrics.tick", "hub")

    assert await EventStore(database).newest_id() == 50


async def test_a_replay_comes_from_memory_or_the_store_with_the_same_events(run_log: RunLog) -> None:
    async with (
        run_log(memory_events=10) as (bus, log),
        log.follow(1000, EVERYTHING) as follower,
    ):
        for i in range(40):
            bus.publish("servers" if i % 2 else "metrics", "test.event", f"s{i % 4}")
        await stored(follower, 40)
        from_memory = await replayed(log, 32, 40)
        from_store = await replayed(log, 10, 40)
        one_server = await replayed(log, 0, 40, TopicFilter.parse("servers:s1"))
        nothing = await replayed(log, 40, 40)

    assert from_memory == list(range(33, 41))
    assert from_store == list(range(11, 41))
    assert one_server == [2, 6, 10, 14, 18, 22, 26, 30, 34, 38]
    assert nothing == []


async def prune(database: Database, log: EventLog, cut: Cut) -> int:
    """Delete the stored events ``cut`` selects, as retention does, and tell the log."""
    pruned = await delete_rows(database, EVENTS, await oldest(database, EVENTS, cut, 1000))
    await log.refresh_window()
    return pruned


async def test_a_replay_of_pruned_events_is_a_gap(
    run_log: RunLog, database: Database, clock: ManualClock
) -> None:
    async with run_log(memory_events=0) as (bus, log):
        async with log.follow(1000, EVERYTHING) as follower:
            for _ in range(10):
                bus.publish("metrics", "metrics.tick", "hub")
            clock.advance(timedelta(days=2).total_seconds())
            for _ in range(10):
                bus.publish("metrics", "metrics.tick", "hub")
            await stored(follower, 20)
        pruned = await prune(database, log, older_than(EVENTS, clock.now() - timedelta(days=1)))
        window = log.resume_window()

        kept = await replayed(log, 10, 20)
        with pytest.raises(ReplayGap, match="no longer kept"):
            await replayed(log, 9, 20)
        with pytest.raises(ReplayGap, match="newer than the newest"):
            await replayed(log, 21, 20)

    assert pruned == 10
    assert kept == list(range(11, 21))
    assert (window.oldest_id, window.newest_id, window.age_s) == (11, 20, 0.0)


async def test_pruning_keeps_the_newest_events(run_log: RunLog, database: Database) -> None:
    async with run_log() as (bus, log), log.follow(1000, EVERYTHING) as follower:
        for _ in range(25):
            bus.publish("metrics", "metrics.tick", "hub")
        await stored(follower, 25)
        await prune(database, log, await over_count(database, EVENTS, 7))

    assert [row.id for row in await EventStore(database).page(0, 100, None, 100)] == list(range(19, 26))


async def test_a_follower_that_does_not_read_is_cut_off_and_the_others_go_on(run_log: RunLog) -> None:
    async with (
        run_log() as (bus, log),
        log.follow(5, EVERYTHING) as slow,
        log.follow(1000, TopicFilter.parse("servers")) as fast,
    ):
        for i in range(20):
            bus.publish("servers", "test.event", "echo", {"i": i})
            await stored(fast, 1)
        with anyio.fail_after(10):
            await slow.cut_off.wait()

    assert slow.why is CutOff.SLOW
    assert "slow consumer" in slow.reason
    assert log.slow_cut_offs == 1
    assert not fast.cut_off.is_set()


async def test_every_follower_is_told_when_the_log_stops(database: Database, clock: ManualClock) -> None:
    log = EventLog(EventStore(database), EventBus(clock), EventStreamSettings(), clock)
    stop = anyio.CancelScope()

    async def run_until_stopped(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        with stop:
            await log.run(task_status=task_status)

    async with anyio.create_task_group() as tg:
        await tg.start(run_until_stopped)
        async with log.follow(5, EVERYTHING) as follower:
            stop.cancel()
            with anyio.fail_after(10):
                await follower.cut_off.wait()

    assert follower.why is CutOff.SHUTDOWN


async def test_a_follower_gets_only_the_topics_it_asked_for(run_log: RunLog) -> None:
    topics = TopicFilter.parse("servers:echo,metrics")
    async with run_log() as (bus, log), log.follow(100, topics) as follower:
        bus.publish("servers", "test.event", "other")
        bus.publish("audit", "test.event", "echo")
        bus.publish("servers", "test.event", "echo")
        bus.publish("metrics", "metrics.tick", "hub")
        got = await stored(follower, 2)

    assert [(event.topic, event.subject) for event in got] == [("servers", "echo"), ("metrics", "hub")]
