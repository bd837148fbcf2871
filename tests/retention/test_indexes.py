"""Every query retention makes runs on an index, on SQLite and on PostgreSQL: finding the oldest rows
under each limit, counting them, and deleting a batch with what belongs to it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ClauseElement, ColumnElement, func, literal_column, select

from corral.db.engine import Database
from corral.db.pruning import Cut, Prunable, oldest_query
from corral.retention.pruner import KINDS

pytestmark = pytest.mark.anyio

CUTOFF: ColumnElement[Any] = literal_column("'2026-01-01 00:00:00'")


def queries(prunable: Prunable) -> list[ClauseElement]:
    keys: list[Any] = [1, 2] if prunable.numbered else ["a", "b"]
    by_age = Cut(prunable.age < CUTOFF, prunable.age)
    by_count = (
        Cut(prunable.key <= 1000, prunable.key)
        if prunable.numbered
        else Cut(prunable.age.is_not(None), prunable.age)
    )
    counted = select(func.count()).select_from(prunable.key.class_).where(prunable._candidates())
    return [
        oldest_query(prunable, by_age, 50),
        oldest_query(prunable, by_count, 50),
        counted,
        *prunable.dependents(keys),
    ]


async def plan(database: Database, query: ClauseElement) -> str:
    sql = str(query.compile(database.engine, compile_kwargs={"literal_binds": True}))
    async with database.engine.connect() as connection:
        if database.dialect == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            return "\n".join(str(row[-1]) for row in rows)
        # With sequential scans priced out, the planner still picks one when no index serves the query.
        await connection.exec_driver_sql("SET enable_seqscan = off")
        rows = await connection.exec_driver_sql(f"EXPLAIN {sql}")
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize("prunable", KINDS, ids=[prunable.kind for prunable in KINDS])
async def test_retention_finds_counts_and_deletes_rows_through_indexes(
    database: Database, prunable: Prunable
) -> None:
    for query in queries(prunable):
        found = await plan(database, query)

        full_scans = [
            line
            for line in found.splitlines()
            if "Seq Scan" in line or (line.startswith("SCAN ") and " USING " not in line)
        ]
        assert not full_scans, f"{query}\n{found}"
