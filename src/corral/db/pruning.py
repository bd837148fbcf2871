"""Deleting old rows in small batches: which rows of a table may go, and how a batch of them goes.

Each concern that keeps records declares them as a ``Prunable`` (in its ``retention`` module): the key,
the column whose time says how old a row is (a row without one, e.g. an unfinished execution, never
goes), what else must hold, and the rows of other tables that go with it. Retention decides when and
how many; this module only finds the oldest candidates and deletes them, one short transaction a batch.
Every query here runs on an index: the age column's, or the key's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Delete, Select, delete, false, func, select, true
from sqlalchemy.orm import InstrumentedAttribute

from corral.db.engine import Database


def _nothing_else(keys: Sequence[Any]) -> Sequence[Delete]:
    return ()


@dataclass(frozen=True)
class Prunable:
    """One kind of record retention may delete."""

    kind: str
    key: InstrumentedAttribute[Any]
    age: InstrumentedAttribute[Any]
    """The time a row's age is counted from; NULL keeps it (not finished yet)."""
    eligible: Callable[[], ColumnElement[bool]] = true
    """What else a row must satisfy to be deleted (built per query: it may alias tables)."""
    numbered: bool = False
    """The key is an increasing integer: the newest N rows are those with the highest N keys."""
    dependents: Callable[[Sequence[Any]], Sequence[Delete]] = _nothing_else
    """Deletes of the rows that belong to the given keys, run first in the same transaction."""

    def _candidates(self) -> ColumnElement[bool]:
        return self.age.is_not(None) & self.eligible()


@dataclass(frozen=True)
class Cut:
    """Rows a limit selects: a condition, the order to take them in, and how many at most."""

    where: ColumnElement[bool]
    order: InstrumentedAttribute[Any]
    at_most: int | None = None


async def over_count(database: Database, prunable: Prunable, keep: int) -> Cut:
    """The candidate rows beyond the newest ``keep``.

    A numbered table is cut at ``max(key) - keep`` (two index lookups); any other is counted.
    """
    async with database.sessions() as session:
        if prunable.numbered:
            newest = await session.scalar(select(func.max(prunable.key)))
            if newest is None:
                return Cut(false(), prunable.key, 0)
            return Cut(prunable.key <= int(newest) - keep, prunable.key)
        total = await session.scalar(
            select(func.count()).select_from(prunable.key.class_).where(prunable._candidates())
        )
    return Cut(true(), prunable.age, max(0, int(total or 0) - keep))


def older_than(prunable: Prunable, before: datetime) -> Cut:
    return Cut(prunable.age < before, prunable.age)


def oldest_query(prunable: Prunable, cut: Cut, limit: int) -> Select[tuple[Any]]:
    order = (cut.order,) if cut.order is prunable.key else (cut.order, prunable.key)
    return select(prunable.key).where(prunable._candidates(), cut.where).order_by(*order).limit(limit)


async def oldest(database: Database, prunable: Prunable, cut: Cut, limit: int) -> list[Any]:
    """Keys of up to ``limit`` rows ``cut`` selects, oldest first."""
    async with database.sessions() as session:
        return list(await session.scalars(oldest_query(prunable, cut, limit)))


async def delete_rows(database: Database, prunable: Prunable, keys: Sequence[Any]) -> int:
    """Delete the rows with these keys and what belongs to them, in one transaction; how many went."""
    if not keys:
        return 0

    def work(connection: Connection) -> int:
        for statement in prunable.dependents(keys):
            connection.execute(statement)
        deleted: int = connection.execute(delete(prunable.key.class_).where(prunable.key.in_(keys))).rowcount
        return deleted

    return await database.transact(work)
