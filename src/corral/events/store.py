"""The ``events`` table: the durable log of every event, keyed by the bus's id, read in id order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    false,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.events.models import Event
from corral.events.topics import TopicFilter


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    topic: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class EventStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        rows = [
            {
                "id": event.id,
                "time": event.time,
                "topic": event.topic,
                "type": event.type,
                "subject": event.subject,
                "data": event.data,
            }
            for event in events
        ]
        # Not flushed to disk before it returns (see ``Database.transact``): a log, not a record of work.
        await self._db.transact(lambda connection: connection.execute(insert(EventRow), rows), flush=False)

    async def newest_id(self) -> int:
        async with self._db.sessions() as session:
            return int(await session.scalar(select(func.max(EventRow.id))) or 0)

    async def oldest_id(self) -> int | None:
        async with self._db.sessions() as session:
            found = await session.scalar(select(func.min(EventRow.id)))
            return None if found is None else int(found)

    async def oldest(self) -> tuple[int, datetime] | None:
        """The oldest stored event's id and time; None when none is stored."""
        query = select(EventRow.id, EventRow.time).order_by(EventRow.id).limit(1)
        async with self._db.sessions() as session:
            found = (await session.execute(query)).first()
            return None if found is None else (int(found.id), found.time)

    async def page(self, after: int, upto: int, topics: TopicFilter | None, limit: int) -> list[Event]:
        """Up to ``limit`` events with ``after < id <= upto`` that pass ``topics``, oldest first."""
        query = select(EventRow).where(EventRow.id > after, EventRow.id <= upto)
        if topics is not None:
            query = query.where(_matching(topics))
        async with self._db.sessions() as session:
            rows = await session.scalars(query.order_by(EventRow.id).limit(limit))
            return [Event(row.id, row.topic, row.type, row.subject, row.time, row.data) for row in rows]


def _matching(topics: TopicFilter) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if topics.topics:
        clauses.append(EventRow.topic.in_(sorted(topics.topics)))
    clauses.extend(
        and_(EventRow.topic == topic, EventRow.subject == subject) for topic, subject in topics.subjects
    )
    if not topics.by_type:
        return or_(false(), *clauses)
    types: list[ColumnElement[bool]] = [EventRow.type.in_(sorted(topics.types))] if topics.types else []
    types.extend(EventRow.type.startswith(prefix, autoescape=True) for prefix in topics.type_prefixes)
    return and_(or_(false(), *clauses), or_(false(), *types))
