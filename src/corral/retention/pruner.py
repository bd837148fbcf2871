"""The pruner: a task of the hub that keeps every kind of record within the limits of the runtime settings.

Every ``prune_interval_s`` it goes over each kind of record: the rows beyond the row limit first, then
those older than the age limit, oldest first. It deletes them in batches, each its own short
transaction sized to last about ``batches.TARGET_S``, and after each batch (finding, archiving and
deleting it) it waits ``PAUSE_FACTOR`` times as long as the batch took: the hub's own writes (tool
calls' audit entries, events, checkpoints) get the turns between, and pruning takes at most a quarter
of the time of the store and of the hub's event loop. Audit entries are archived before each batch of
them is deleted, unless the operator turned archiving off; if the archive cannot be written, they
stay. A kind that lost rows gets an audit entry
(``retention.prune``), and so does a pass that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio
from sqlalchemy.exc import SQLAlchemyError

from corral.audit.archive import AuditArchive
from corral.audit.log import AuditLog
from corral.audit.models import AuditEntry
from corral.audit.retention import AUDIT
from corral.audit.store import AuditStore
from corral.clock import Clock
from corral.db.engine import Database
from corral.db.pruning import Cut, Prunable, delete_rows, older_than, oldest, over_count
from corral.events.log import EventLog
from corral.events.retention import EVENTS
from corral.patterns.retention import APPLICATIONS
from corral.retention.batches import BatchSizer
from corral.retention.limits import Limits, limits
from corral.settings.live import LiveSettings
from corral.tasks.retention import TASK_GROUPS, TASKS
from corral.workflow.retention import EXECUTIONS

logger = logging.getLogger(__name__)

KINDS: tuple[Prunable, ...] = (AUDIT, EVENTS, EXECUTIONS, TASKS, TASK_GROUPS, APPLICATIONS)
STORE_TIMEOUT_S = 10.0
PAUSE_FACTOR = 3.0
ACTOR = "corral"
T = TypeVar("T")


@dataclass
class KindStatus:
    """What retention did to one kind of record since the hub started."""

    deleted: int = 0
    archived: int = 0
    last_deleted: int = 0
    last_pass: datetime | None = None
    last_error: str | None = None


class Pruner:
    def __init__(
        self,
        database: Database,
        settings: LiveSettings,
        audit: AuditLog,
        audit_store: AuditStore,
        archive: AuditArchive,
        event_log: EventLog,
        clock: Clock,
    ) -> None:
        self._db = database
        self._settings = settings
        self._audit = audit
        self._audit_store = audit_store
        self.archive = archive
        self._event_log = event_log
        self._clock = clock
        self.status = {prunable.kind: KindStatus() for prunable in KINDS}

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Prune now, then every ``prune_interval_s``, until cancelled."""
        task_status.started()
        while True:
            await self.prune()
            await anyio.sleep(self._settings.current.prune_interval_s)

    async def prune(self) -> dict[str, int]:
        """One pass over every kind of record; how many rows of each went."""
        settings = self._settings.current
        kept_within = limits(settings)
        deleted = {}
        for prunable in KINDS:
            archive = prunable is AUDIT and settings.audit_archive
            deleted[prunable.kind] = await self._prune(
                prunable, kept_within[prunable.kind], settings.prune_batch_rows, archive=archive
            )
        return deleted

    async def _prune(self, prunable: Prunable, within: Limits, batch_rows: int, *, archive: bool) -> int:
        status = self.status[prunable.kind]
        now = self._clock.now()
        sizer = BatchSizer(batch_rows)
        deleted, archived_to, error = 0, set[str](), None
        try:
            cuts: list[Cut] = []
            if within.rows:
                cuts.append(await _bounded(over_count(self._db, prunable, within.rows)))
            cutoff = within.cutoff(now)
            if cutoff is not None:
                cuts.append(older_than(prunable, cutoff))
            for cut in cuts:
                remaining = cut.at_most
                while remaining is None or remaining > 0:
                    take = sizer.size if remaining is None else min(sizer.size, remaining)
                    batch_started = self._clock.monotonic()
                    keys = await _bounded(oldest(self._db, prunable, cut, take))
                    if not keys:
                        break
                    if archive:
                        archived_to.update(await self._archive(keys))
                        status.archived += len(keys)
                    delete_started = self._clock.monotonic()
                    gone = await _bounded(delete_rows(self._db, prunable, keys))
                    done = self._clock.monotonic()
                    sizer.took(done - delete_started)  # the write turn it held
                    deleted += gone
                    status.deleted += gone
                    if remaining is not None:
                        remaining -= len(keys)
                    await anyio.sleep((done - batch_started) * PAUSE_FACTOR)  # the hub's own work first
            if deleted and prunable is EVENTS:
                await self._event_log.refresh_window()
        except (SQLAlchemyError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("retention of %s stopped after %d rows: %s", prunable.kind, deleted, error)
        status.last_deleted, status.last_pass, status.last_error = deleted, now, error
        if deleted or error:
            self._record(prunable.kind, within, deleted, sorted(archived_to), error)
        return deleted

    async def _archive(self, keys: list[Any]) -> list[str]:
        entries = await _bounded(self._audit_store.by_ids(keys))
        return [path.name for path in await self.archive.add(entries)]

    def _record(
        self, kind: str, within: Limits, deleted: int, archived_to: list[str], error: str | None
    ) -> None:
        detail: dict[str, Any] = {"deleted": deleted, "keep_days": within.days, "keep_rows": within.rows}
        if archived_to:
            detail["archived_to"] = archived_to
        if error is not None:
            detail["error"] = error
        self._audit.record(
            AuditEntry(
                time=self._clock.now(),
                actor=ACTOR,
                action="retention.prune",
                target=kind,
                outcome="ok" if error is None else "error",
                source="retention",
                detail=detail,
            )
        )


async def _bounded(operation: Awaitable[T]) -> T:
    """A store call, run to its end even when the pass is cancelled meanwhile, within a deadline.

    Raises: TimeoutError after ``STORE_TIMEOUT_S``.
    """
    with anyio.CancelScope(shield=True), anyio.fail_after(STORE_TIMEOUT_S):
        result = await operation
    return result
