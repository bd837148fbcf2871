"""The hub's metrics registry on its own: one per hub, and a scrape that survives a store that fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from corral.calls.metrics import CallMetrics
from corral.clock import SystemClock
from corral.config.settings import EventStreamSettings
from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade
from corral.events.bus import EventBus
from corral.events.log import EventLog
from corral.events.store import EventStore
from corral.observability.metrics import HubMetrics
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.supervisor import Supervisor
from corral.workflow.models import ExecutionStatus, StepStatus
from corral.workflow.store import StepRun

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await upgrade(database)
    yield database
    await database.close()


@asynccontextmanager
async def watching(
    metrics: HubMetrics, database: Database, counts: Mapping[ExecutionStatus, int] | None
) -> AsyncIterator[None]:
    """A running event log, a supervisor with no servers, and executions as ``counts`` says."""
    clock = SystemClock()
    bus = EventBus(clock)
    event_log = EventLog(EventStore(database), bus, EventStreamSettings(), clock)

    async def count() -> Mapping[ExecutionStatus, int]:
        if counts is None:
            raise OperationalError("SELECT", {}, Exception("the store is down"))
        return counts

    metrics.watch(
        calls=CallMetrics(),
        supervisor=Supervisor(LiveSettings(SettingStore(database), clock), bus, clock),
        bus=bus,
        event_log=event_log,
        executions=count,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(event_log.run)
        yield
        tg.cancel_scope.cancel()


async def families(metrics: HubMetrics) -> set[str]:
    body, content_type = await metrics.scrape()
    assert content_type.startswith("text/plain")
    return {family.name for family in text_string_to_metric_families(body.decode())}


async def test_each_hub_has_a_registry_of_its_own(database: Database) -> None:
    first, second = HubMetrics(), HubMetrics()
    run = StepRun(key="a", step_id="a", status=StepStatus.COMPLETED, duration_s=0.2)
    async with (
        watching(first, database, dict.fromkeys(ExecutionStatus, 0)),
        watching(second, database, dict.fromkeys(ExecutionStatus, 0)),
    ):
        first.step_finished("w", run)
        scraped = [(await metrics.scrape())[0].decode() for metrics in (first, second)]

    observed = 'corral_workflow_step_duration_seconds_count{status="completed",step="a",workflow="w"} 1.0'
    assert observed in scraped[0]
    assert "workflow=" not in scraped[1]


async def test_a_store_that_cannot_count_executions_leaves_only_that_family_out(database: Database) -> None:
    metrics = HubMetrics()
    async with watching(metrics, database, None):
        found = await families(metrics)

    assert "corral_workflow_executions" not in found
    assert {"corral_server_status", "corral_event_log_lag_events", "corral_info"} <= found
