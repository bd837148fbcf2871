"""Audit entries past their limits are archived as gzip JSON lines, one file a day, then pruned; the
archive reads back; pruning is itself audited."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from corral.audit.models import AuditEntry, AuditFilter
from corral.audit.store import AuditStore
from corral.clock import ManualClock
from tests.retention.conftest import RunRetention

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)


def entry(clock: ManualClock, age: timedelta, n: int) -> AuditEntry:
    return AuditEntry(
        time=clock.now() - age,
        actor="alice",
        action="tool.call",
        target=f"echo/echo{n}",
        outcome="ok",
        source="127.0.0.1",
        duration_ms=1.5,
        detail={"n": n, "text": "héllo"},
    )


def read_archive(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Each archive file's name → its records, read as any gzip reader would (every member)."""
    found = {}
    for path in sorted(folder.glob("audit-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            found[path.name] = [json.loads(line) for line in lines]
    return found


async def targets(store: AuditStore, action: str = "tool.call") -> list[str]:
    return [e.target for e in await store.query(AuditFilter(action=action), limit=1000, oldest_first=True)]


async def test_entries_older_than_the_age_limit_are_archived_by_day_then_pruned(
    run_retention: RunRetention, clock: ManualClock, tmp_path: Path
) -> None:
    store_entries = [entry(clock, 100 * DAY, n) for n in range(3)]
    store_entries += [entry(clock, 95 * DAY, n) for n in range(3, 5)]
    store_entries += [entry(clock, DAY, n) for n in range(5, 8)]
    async with run_retention(audit_keep_days=90, archive=tmp_path / "archive") as retention:
        await retention.audit.append(store_entries)
        pruned = await retention.pruner.prune()
        kept = await targets(retention.audit)

    archive = read_archive(tmp_path / "archive")
    old_day = (clock.now() - 100 * DAY).date().isoformat()
    older_day = (clock.now() - 95 * DAY).date().isoformat()
    assert pruned["audit"] == 5
    assert kept == [f"echo/echo{n}" for n in range(5, 8)]
    assert sorted(archive) == [f"audit-{old_day}.jsonl.gz", f"audit-{older_day}.jsonl.gz"]
    first = archive[f"audit-{old_day}.jsonl.gz"]
    assert [record["target"] for record in first] == ["echo/echo0", "echo/echo1", "echo/echo2"]
    assert first[0] == {
        "id": 1,
        "time": (clock.now() - 100 * DAY).isoformat(),
        "actor": "alice",
        "action": "tool.call",
        "target": "echo/echo0",
        "outcome": "ok",
        "source": "127.0.0.1",
        "duration_ms": 1.5,
        "detail": {"n": 0, "text": "héllo"},
    }


async def test_entries_beyond_the_row_limit_go_oldest_first_and_the_archive_grows_by_appending(
    run_retention: RunRetention, clock: ManualClock, tmp_path: Path
) -> None:
    async with run_retention(audit_keep_days=0, audit_keep_rows=4, archive=tmp_path / "a") as retention:
        await retention.audit.append([entry(clock, timedelta(minutes=10 - n), n) for n in range(6)])
        await retention.pruner.prune()
        await retention.audit.append([entry(clock, timedelta(0), n) for n in range(6, 8)])
        await retention.pruner.prune()
        kept = await targets(retention.audit)

    archived = [record["target"] for records in read_archive(tmp_path / "a").values() for record in records]
    assert kept == ["echo/echo4", "echo/echo5", "echo/echo6", "echo/echo7"]
    assert archived == ["echo/echo0", "echo/echo1", "echo/echo2", "echo/echo3"]


async def test_with_archiving_off_entries_are_pruned_without_an_archive(
    run_retention: RunRetention, clock: ManualClock, tmp_path: Path
) -> None:
    async with run_retention(audit_keep_days=1, audit_archive=False, archive=tmp_path / "a") as retention:
        await retention.audit.append([entry(clock, 2 * DAY, n) for n in range(3)])
        pruned = await retention.pruner.prune()

    assert pruned["audit"] == 3
    assert not (tmp_path / "a").exists()


async def test_entries_stay_when_the_archive_cannot_be_written_and_the_failure_is_audited(
    run_retention: RunRetention, clock: ManualClock, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "archive"
    not_a_folder.write_text("in the way")
    async with run_retention(audit_keep_days=1, archive=not_a_folder) as retention:
        await retention.audit.append([entry(clock, 2 * DAY, n) for n in range(3)])
        pruned = await retention.pruner.prune()
        status = retention.pruner.status["audit"]
    async with run_retention() as retention:
        kept = await targets(retention.audit)
        audited = await retention.audit.query(AuditFilter(action="retention.prune"), limit=10)

    assert pruned["audit"] == 0
    assert kept == ["echo/echo0", "echo/echo1", "echo/echo2"]
    assert status.last_error is not None and "FileExistsError" in status.last_error
    assert [(e.target, e.outcome, e.actor) for e in audited] == [("audit", "error", "corral")]
    assert audited[0].detail["deleted"] == 0


async def test_pruning_is_audited_with_what_went_and_where_it_was_archived(
    run_retention: RunRetention, clock: ManualClock
) -> None:
    async with run_retention(audit_keep_days=30, events_keep_rows=2) as retention:
        await retention.audit.append([entry(clock, 40 * DAY, n) for n in range(3)])
        for _ in range(5):
            retention.bus.publish("metrics", "metrics.tick", "hub")
        await retention.pruner.prune()
    async with run_retention() as retention:
        audited = await retention.audit.query(
            AuditFilter(action="retention.prune"), limit=10, oldest_first=True
        )

    day = (clock.now() - 40 * DAY).date().isoformat()
    assert [(e.target, e.outcome, e.source) for e in audited] == [
        ("audit", "ok", "retention"),
        ("events", "ok", "retention"),
    ]
    assert audited[0].detail == {
        "deleted": 3,
        "keep_days": 30.0,
        "keep_rows": 10_000_000,
        "archived_to": [f"audit-{day}.jsonl.gz"],
    }
    assert audited[1].detail["deleted"] >= 3
