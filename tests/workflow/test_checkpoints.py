"""The checkpoint writer on SQLite and PostgreSQL: batches, refusals, one bad checkpoint among good ones,
and events published only once written."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from sqlalchemy.exc import StatementError

from corral.clock import ManualClock
from corral.db.engine import Database
from corral.events.bus import EventBus
from corral.events.models import Event
from corral.workflow.checkpoints import Checkpoint, CheckpointWriter, step_values
from corral.workflow.models import ExecutionStatus, StepStatus, WorkflowDefinition
from corral.workflow.store import Execution, StepRun, WorkflowStore

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
DEFINITION = {"workflow_id": "w", "name": "w", "steps": [{"id": "a", "tool": "echo__echo"}]}


def new_execution(execution_id: str) -> Checkpoint:
    execution = Execution(
        execution_id, "w", 1, ExecutionStatus.PENDING, {}, [], None, None, NOW, None, None, last_seq=1
    )
    return Checkpoint(execution, 1, "execution.created", NOW, {"workflow_id": "w"}, new=True)


def step_checkpoint(created: Checkpoint, result: object) -> Checkpoint:
    execution = replace(created.execution, status=ExecutionStatus.RUNNING, started_at=NOW, last_seq=2)
    run = StepRun(key="a", step_id="a", status=StepStatus.COMPLETED, attempt=1, result=result)
    return Checkpoint(execution, 2, "step.completed", NOW, {"attempt": 1}, step_values(execution.id, run))


def waiting(events: MemoryObjectReceiveStream[Event]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    while True:
        try:
            event = events.receive_nowait()
        except anyio.WouldBlock:
            return found
        found.append((event.type, event.subject))


async def test_a_bad_checkpoint_fails_alone_and_only_written_ones_are_published(database: Database) -> None:
    store = WorkflowStore(database)
    await store.save_definition(WorkflowDefinition.model_validate(DEFINITION), NOW)
    bus = EventBus(ManualClock())
    writer = CheckpointWriter(database, bus)
    async with anyio.create_task_group() as tg, bus.subscribe() as events:
        await tg.start(writer.run)
        good, bad = new_execution("ex_good"), new_execution("ex_bad")
        assert await writer.write(good) and await writer.write(bad)
        assert not await writer.write(new_execution("ex_good")), "an id that exists is refused"

        # Queued, so it waits for the next written one and shares its batch, which then fails as a whole.
        writer.queue(step_checkpoint(bad, {"not json": {1, 2}}))
        assert await writer.write(step_checkpoint(good, "fine"))
        with pytest.raises(StatementError):
            await writer.write(step_checkpoint(bad, {"still not json": {3}}))
        writer.close()
        published = waiting(events)  # published as their batch was written: all there by now
        tg.cancel_scope.cancel()

    assert published == [
        ("execution.created", "ex_good"),
        ("execution.created", "ex_bad"),
        ("step.completed", "ex_good"),
    ]
    good_runs = await store.step_runs("ex_good")
    assert good_runs["a"].result == "fine" and good_runs["a"].status is StepStatus.COMPLETED
    assert await store.step_runs("ex_bad") == {}
    assert [event.type for event in await store.events("ex_good")] == ["execution.created", "step.completed"]
    assert [event.type for event in await store.events("ex_bad")] == ["execution.created"]
    stored = await store.execution("ex_good")
    assert stored is not None and stored.status is ExecutionStatus.RUNNING and stored.last_seq == 2
