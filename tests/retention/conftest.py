"""A migrated store on each backend, and a pruner over it with a hand-driven clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from corral.audit.archive import AuditArchive
from corral.audit.log import AuditLog
from corral.audit.store import AuditStore
from corral.clock import ManualClock
from corral.config.settings import EventStreamSettings
from corral.db.engine import Database
from corral.events.bus import EventBus
from corral.events.log import EventLog
from corral.events.store import EventStore
from corral.retention.pruner import Pruner
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class Retention:
    pruner: Pruner
    settings: LiveSettings
    audit: AuditStore
    event_log: EventLog
    bus: EventBus


RunRetention = Callable[..., AbstractAsyncContextManager[Retention]]


@pytest.fixture
def run_retention(database: Database, clock: ManualClock, tmp_path: Path) -> RunRetention:
    """``async with run_retention(archive=folder, **runtime_settings) as retention:`` — a pruner, with the
    audit log and the event log it reports to running beside it (so pruning's own audit entries are
    stored when the block ends)."""

    @asynccontextmanager
    async def run(archive: Path | None = None, **settings: Any) -> AsyncIterator[Retention]:
        live = LiveSettings(SettingStore(database), clock)
        await live.load({})
        if settings:
            await live.update(settings)
        bus = EventBus(clock)
        audit_store = AuditStore(database)
        audit_log = AuditLog(audit_store)
        event_log = EventLog(EventStore(database), bus, EventStreamSettings(), clock)
        pruner = Pruner(
            database,
            live,
            audit_log,
            audit_store,
            AuditArchive(archive or tmp_path / "archive"),
            event_log,
            clock,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(event_log.run)
            await tg.start(audit_log.run)
            yield Retention(pruner, live, audit_store, event_log, bus)
            tg.cancel_scope.cancel()

    return run
