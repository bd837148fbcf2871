"""The ``audit`` table: append-only, read newest first. Secrets in an entry are masked before it is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, Row, Select, String, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from corral.audit.models import AuditEntry, AuditFilter
from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.secrets.redact import redact_data, redact_text


class AuditRow(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def append(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "time": entry.time,
                "actor": redact_text(entry.actor),
                "action": entry.action,
                "target": redact_text(entry.target),
                "outcome": entry.outcome,
                "source": entry.source,
                "duration_ms": entry.duration_ms,
                "detail": redact_data(entry.detail),
            }
            for entry in entries
        ]
        # Not flushed to disk before it returns (see ``Database.transact``): a log, not a record of work.
        await self._db.transact(lambda connection: connection.execute(insert(AuditRow), rows), flush=False)

    async def recent(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditRow.action == action)
        async with self._db.sessions() as session:
            return [_entry(row, with_id=False) for row in await session.scalars(query)]

    async def query(
        self,
        where: AuditFilter,
        *,
        limit: int,
        before_id: int | None = None,
        after_id: int | None = None,
        oldest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries matching ``where``, newest first (or oldest first), with ids for paging on."""
        query = _filtered(select(AuditRow), where)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        if after_id is not None:
            query = query.where(AuditRow.id > after_id)
        query = query.order_by(AuditRow.id if oldest_first else AuditRow.id.desc()).limit(limit)
        async with self._db.sessions() as session:
            return [_entry(row) for row in await session.scalars(query)]

    async def by_ids(self, ids: list[int]) -> list[AuditEntry]:
        """The entries with these ids, oldest first (to archive them before they are pruned)."""
        # Plain rows, not ORM objects: retention reads them by the thousand, in the hub's event loop.
        query = select(*AuditRow.__table__.columns).where(AuditRow.id.in_(ids)).order_by(AuditRow.id)
        async with self._db.sessions() as session:
            return [_entry(row) for row in await session.execute(query)]


def _entry(row: AuditRow | Row[Any], *, with_id: bool = True) -> AuditEntry:
    return AuditEntry(
        row.time, row.actor, row.action, row.target, row.outcome, row.source, row.duration_ms, row.detail,
        id=row.id if with_id else None,
    )  # fmt: skip


def _filtered(query: Select[AuditRow], where: AuditFilter) -> Select[AuditRow]:
    for column, value in (
        (AuditRow.actor, where.actor),
        (AuditRow.action, where.action),
        (AuditRow.outcome, where.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.target is not None:
        if where.target.endswith("*"):
            prefix = where.target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AuditRow.target.like(prefix + "%", escape="\\"))
        else:
            query = query.where(AuditRow.target == where.target)
    if where.since is not None:
        query = query.where(AuditRow.time >= where.since)
    if where.until is not None:
        query = query.where(AuditRow.time < where.until)
    return query
