"""The pattern applications table, on SQLite and PostgreSQL: a record reaches its final status once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from corral.db.engine import open_database
from corral.db.migrate import upgrade
from corral.patterns.models import Application, ApplicationStatus
from corral.patterns.store import ApplicationStore

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ApplicationStore]:
    database = open_database(store_url)
    try:
        await upgrade(database)
        yield ApplicationStore(database)
    finally:
        await database.close()


def application(application_id: str, status: ApplicationStatus, minutes: int = 0) -> Application:
    return Application(
        id=application_id, pattern_id="smoke-test", target_kind="server", target="echo",
        params={"call_timeout_s": 10}, status=status, validation={"ok": True}, workflow_id=None,
        workflow_version=None, execution_id=None, results=None, error=None,
        created_at=T0 + timedelta(minutes=minutes), finished_at=None,
    )  # fmt: skip


async def test_an_application_runs_then_finishes_once_with_its_results(store: ApplicationStore) -> None:
    await store.add(application("pa_1", ApplicationStatus.PENDING))

    await store.started("pa_1", "pattern.smoke-test.echo", 2, "ex_1")
    running = await store.get("pa_1")
    await store.finish("pa_1", ApplicationStatus.COMPLETED, now=T0, results={"steps": {"a": 1}})
    await store.finish("pa_1", ApplicationStatus.FAILED, now=T0, error="too late")
    done = await store.get("pa_1")

    assert running is not None and running.status is ApplicationStatus.RUNNING
    assert (running.workflow_id, running.workflow_version, running.execution_id) == (
        "pattern.smoke-test.echo", 2, "ex_1",
    )  # fmt: skip
    assert done is not None and done.status is ApplicationStatus.COMPLETED
    assert done.results == {"steps": {"a": 1}} and done.error is None and done.finished_at == T0
    assert done.to_json()["params"] == {"call_timeout_s": 10}


async def test_a_finished_application_is_not_set_running_again(store: ApplicationStore) -> None:
    await store.add(application("pa_1", ApplicationStatus.PENDING))
    await store.finish("pa_1", ApplicationStatus.FAILED, now=T0, error="x" * 5000)

    await store.started("pa_1", "pattern.smoke-test.echo", 1, "ex_1")

    found = await store.get("pa_1")
    assert found is not None and found.status is ApplicationStatus.FAILED and found.execution_id is None
    assert found.error is not None and len(found.error) == 4000


async def test_applications_are_listed_newest_first_and_filtered(store: ApplicationStore) -> None:
    await store.add(application("pa_1", ApplicationStatus.REJECTED, minutes=0))
    await store.add(application("pa_2", ApplicationStatus.PENDING, minutes=1))
    await store.add(application("pa_3", ApplicationStatus.RUNNING, minutes=2))

    newest_first = [item.id for item in await store.list()]
    rejected = [item.id for item in await store.list(status="rejected")]
    unfinished = [item.id for item in await store.unfinished()]

    assert newest_first == ["pa_3", "pa_2", "pa_1"]
    assert rejected == ["pa_1"] and [item.id for item in await store.list(limit=1)] == ["pa_3"]
    assert unfinished == ["pa_2", "pa_3"]
    assert await store.list(pattern_id="other") == [] and await store.get("nope") is None
