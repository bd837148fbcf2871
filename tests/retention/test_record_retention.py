"""Finished executions (with their steps and events), tasks (with their attempts), task groups (with their
tasks) and pattern applications past their limits are pruned; unfinished ones never are."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from corral.clock import ManualClock
from corral.db.engine import Database
from corral.events.topics import TopicFilter
from corral.patterns.store import PatternApplicationRow
from corral.tasks.store import TaskAttemptRow, TaskGroupRow, TaskRow
from corral.workflow.store import ExecutionEventRow, ExecutionRow, StepRunRow
from tests.retention.conftest import Retention, RunRetention

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)


async def add(database: Database, *rows: Any) -> None:
    async with database.write() as session:
        for row in rows:
            session.add(row)
            await session.flush()


async def keys(database: Database, key: InstrumentedAttribute[Any]) -> list[Any]:
    async with database.sessions() as session:
        return sorted(await session.scalars(select(key)))


async def count(database: Database, key: InstrumentedAttribute[Any]) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count(key))) or 0)


def execution(id: str, now: datetime, finished: timedelta | None, parent: str | None = None) -> list[Any]:
    """An execution with one step checkpoint and one event; finished that long ago (None: running)."""
    status = "running" if finished is None else "completed"
    return [
        ExecutionRow(
            id=id, workflow_id="w", version=1, status=status, params={}, target_machines=[], parent=parent,
            error=None, last_seq=1, created_at=now - 60 * DAY, started_at=now - 60 * DAY,
            finished_at=None if finished is None else now - finished,
        ),
        StepRunRow(
            execution_id=id, key="s", step_id="s", item=None, status="completed", attempt=1, result={"ok": 1},
            error=None, server=None, schema_hash=None, uncertain=False, detail={}, started_at=None,
            finished_at=None, duration_s=None,
        ),
        ExecutionEventRow(execution_id=id, seq=1, type="step.completed", step="s", data={}, time=now),
    ]  # fmt: skip


async def test_finished_executions_go_with_their_steps_and_events_and_running_ones_stay(
    run_retention: RunRetention, database: Database, clock: ManualClock
) -> None:
    now = clock.now()
    await add(
        database,
        *execution("old", now, 40 * DAY),
        *execution("recent", now, DAY),
        *execution("running", now, None),
        *execution("child-of-running", now, 40 * DAY, parent="running"),
        *execution("child-of-old", now, 40 * DAY, parent="old"),
    )
    async with run_retention(executions_keep_days=30) as retention:
        pruned = await retention.pruner.prune()

    assert pruned["executions"] == 2
    assert await keys(database, ExecutionRow.id) == ["child-of-running", "recent", "running"]
    assert await keys(database, StepRunRow.execution_id) == ["child-of-running", "recent", "running"]
    assert await keys(database, ExecutionEventRow.execution_id) == ["child-of-running", "recent", "running"]


async def test_finished_executions_beyond_the_row_limit_go_oldest_finished_first(
    run_retention: RunRetention, database: Database, clock: ManualClock
) -> None:
    now = clock.now()
    for n in range(5):
        await add(database, *execution(f"e{n}", now, timedelta(hours=10 - n)))
    await add(database, *execution("running", now, None))
    async with run_retention(executions_keep_rows=2, prune_batch_rows=1) as retention:
        pruned = await retention.pruner.prune()

    assert pruned["executions"] == 3
    assert await keys(database, ExecutionRow.id) == ["e3", "e4", "running"]


def task(id: str, now: datetime, finished: timedelta | None, group: str | None = None) -> list[Any]:
    return [
        TaskRow(
            id=id, state="completed" if finished else "running", priority=0, request={}, project=None,
            group_id=group, target=None, actor="alice", attempt=1, agent="a", tried=["a"], result=None,
            is_error=False, error=None, failure=None, created_at=now - 60 * DAY, updated_at=now,
            finished_at=None if finished is None else now - finished,
        ),
        TaskAttemptRow(
            task_id=id, number=1, agent="a", state="completed", started_at=now - 60 * DAY, finished_at=None,
            error=None, result=None, late=False,
        ),
    ]  # fmt: skip


def group(id: str, now: datetime, finished: timedelta | None) -> TaskGroupRow:
    return TaskGroupRow(
        id=id, request={}, targets=["a"], state="completed" if finished else "running", winner=None,
        actor="alice", created_at=now - 60 * DAY, finished_at=None if finished is None else now - finished,
    )  # fmt: skip


async def test_finished_tasks_go_with_their_attempts_and_a_groups_tasks_only_with_their_group(
    run_retention: RunRetention, database: Database, clock: ManualClock
) -> None:
    now = clock.now()
    await add(
        database,
        group("g-old", now, 40 * DAY),
        group("g-running", now, None),
        *task("old", now, 40 * DAY),
        *task("recent", now, DAY),
        *task("running", now, None),
        *task("member-of-old", now, 40 * DAY, group="g-old"),
        *task("member-of-running", now, 40 * DAY, group="g-running"),
    )
    async with run_retention(tasks_keep_days=30) as retention:
        pruned = await retention.pruner.prune()

    assert (pruned["tasks"], pruned["task_groups"]) == (1, 1)
    assert await keys(database, TaskGroupRow.id) == ["g-running"]
    assert await keys(database, TaskRow.id) == ["member-of-running", "recent", "running"]
    assert await keys(database, TaskAttemptRow.task_id) == ["member-of-running", "recent", "running"]


async def test_finished_pattern_applications_past_the_limits_are_pruned(
    run_retention: RunRetention, database: Database, clock: ManualClock
) -> None:
    now = clock.now()
    for n, finished in enumerate([100 * DAY, 3 * DAY, 2 * DAY, DAY, None]):
        await add(
            database,
            PatternApplicationRow(
                id=f"a{n}", pattern_id="restart", target_kind="server", target="echo", params={},
                status="completed" if finished else "running", validation={}, workflow_id=None,
                workflow_version=None, execution_id=None, results=None, error=None, created_at=now,
                finished_at=None if finished is None else now - finished,
            ),
        )  # fmt: skip
    async with run_retention(applications_keep_days=90, applications_keep_rows=2) as retention:
        pruned = await retention.pruner.prune()

    assert pruned["pattern_applications"] == 2
    assert await keys(database, PatternApplicationRow.id) == ["a2", "a3", "a4"]


async def test_limits_changed_at_run_time_apply_at_the_next_pass(
    run_retention: RunRetention, database: Database, clock: ManualClock
) -> None:
    now = clock.now()
    for n in range(4):
        await add(database, *execution(f"e{n}", now, (n + 1) * DAY))
    async with run_retention() as retention:
        before = await retention.pruner.prune()
        await retention.settings.update({"executions_keep_days": 2.5})
        after = await retention.pruner.prune()

    assert (before["executions"], after["executions"]) == (0, 2)
    assert await count(database, ExecutionRow.id) == 2


async def test_the_resume_window_moves_when_old_events_are_pruned(
    run_retention: RunRetention, clock: ManualClock
) -> None:
    async with run_retention(events_keep_days=1) as retention:
        first = retention.bus.publish("metrics", "metrics.tick", "hub")
        clock.advance(2 * DAY.total_seconds())
        kept = [retention.bus.publish("metrics", "metrics.tick", "hub") for _ in range(3)]
        await wait_stored(retention, kept[-1].id)
        before = retention.event_log.resume_window()
        clock.advance(3600)
        await retention.pruner.prune()
        after = retention.event_log.resume_window()

    assert (before.oldest_id, before.newest_id) == (first.id, kept[-1].id)
    assert before.age_s == 2 * DAY.total_seconds()
    assert (after.oldest_id, after.oldest_time, after.age_s) == (kept[0].id, kept[0].time, 3600.0)


async def wait_stored(retention: Retention, event_id: int) -> None:
    async with retention.event_log.follow(100, TopicFilter.everything(admin=True)) as follower:
        with anyio.fail_after(10):
            while retention.event_log.stored_id < event_id:
                await follower.events.receive()
