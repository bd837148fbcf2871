"""A store with history in it, made through the workflow store's own API before a hub opens it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from corral.config.settings import Settings
from corral.db.engine import open_database
from corral.db.migrate import upgrade
from corral.workflow.models import ExecutionStatus, WorkflowDefinition
from corral.workflow.store import WorkflowHistory, WorkflowStore

HISTORY = {
    "workflow_id": "nightly",
    "name": "Nightly echo",
    "steps": [{"id": "hello", "tool": "echo__echo", "args": {"text": "hello"}}],
}


def seed_executions(data_dir: Path, count: int, definition: dict[str, Any] = HISTORY) -> None:
    """``count`` finished executions of ``definition``, one a minute up to now, every tenth failed."""

    async def seed() -> None:
        database = open_database(Settings(data_dir=data_dir).store_url)
        try:
            await upgrade(database)
            now = datetime.now(UTC)
            version = await WorkflowStore(database).save_definition(
                WorkflowDefinition.model_validate(definition), now
            )
            history = WorkflowHistory(database)
            for index in range(count):
                at = now - timedelta(minutes=count - index)
                failed = index % 10 == 9
                record = {
                    "execution_id": f"ex_seed{index:06d}",
                    "workflow_id": definition["workflow_id"],
                    "status": (ExecutionStatus.FAILED if failed else ExecutionStatus.COMPLETED).value,
                    "error": "the step failed" if failed else None,
                    "created_at": at.isoformat(),
                    "started_at": at.isoformat(),
                    "finished_at": (at + timedelta(seconds=2)).isoformat(),
                }
                await history.import_execution(record, version)
        finally:
            await database.close()

    data_dir.mkdir(parents=True, exist_ok=True)
    # In a thread of its own: Playwright's sync API may hold this thread's event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(anyio.run, seed).result()
