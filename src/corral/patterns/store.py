"""The ``pattern_applications`` table: one row per application of a pattern, from request to result."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.patterns.models import Application, ApplicationStatus

MAX_ERROR = 4000
MAX_TARGET = 256


class PatternApplicationRow(Base):
    __tablename__ = "pattern_applications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pattern_id: Mapped[str] = mapped_column(String(128), index=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(MAX_TARGET))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    validation: Mapped[dict[str, Any]] = mapped_column(JSON)
    workflow_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    workflow_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


def _application(row: PatternApplicationRow) -> Application:
    return Application(
        row.id, row.pattern_id, row.target_kind, row.target, row.params, ApplicationStatus(row.status),
        row.validation, row.workflow_id, row.workflow_version, row.execution_id, row.results, row.error,
        row.created_at, row.finished_at,
    )  # fmt: skip


class ApplicationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, application: Application) -> None:
        async with self._db.write() as session:
            session.add(
                PatternApplicationRow(
                    id=application.id,
                    pattern_id=application.pattern_id,
                    target_kind=application.target_kind,
                    target=application.target,
                    params=application.params,
                    status=application.status.value,
                    validation=application.validation,
                    workflow_id=application.workflow_id,
                    workflow_version=application.workflow_version,
                    execution_id=application.execution_id,
                    results=application.results,
                    error=_clip(application.error),
                    created_at=application.created_at,
                    finished_at=application.finished_at,
                )
            )

    async def started(self, application_id: str, workflow_id: str, version: int, execution_id: str) -> None:
        """A pending application's execution started; one that already finished is left as it is."""
        async with self._db.write() as session:
            await session.execute(
                update(PatternApplicationRow)
                .where(
                    PatternApplicationRow.id == application_id,
                    PatternApplicationRow.status == ApplicationStatus.PENDING.value,
                )
                .values(
                    status=ApplicationStatus.RUNNING.value,
                    workflow_id=workflow_id,
                    workflow_version=version,
                    execution_id=execution_id,
                )
            )

    async def finish(
        self,
        application_id: str,
        status: ApplicationStatus,
        *,
        now: datetime,
        results: dict[str, Any] | None = None,
        error: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        """Record how an unfinished application ended (a finished one is never changed again)."""
        values: dict[str, Any] = {
            "status": status.value,
            "results": results,
            "error": _clip(error),
            "finished_at": now,
        }
        if execution_id is not None:
            values["execution_id"] = execution_id
        unfinished = [ApplicationStatus.PENDING.value, ApplicationStatus.RUNNING.value]
        async with self._db.write() as session:
            await session.execute(
                update(PatternApplicationRow)
                .where(
                    PatternApplicationRow.id == application_id, PatternApplicationRow.status.in_(unfinished)
                )
                .values(**values)
            )

    async def get(self, application_id: str) -> Application | None:
        async with self._db.sessions() as session:
            row = await session.get(PatternApplicationRow, application_id)
            return _application(row) if row else None

    async def list(
        self,
        *,
        pattern_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[Application]:
        """Newest first; ``before`` is the (created_at, id) of the last application of the previous page."""
        query = select(PatternApplicationRow).order_by(
            PatternApplicationRow.created_at.desc(), PatternApplicationRow.id.desc()
        )
        if pattern_id is not None:
            query = query.where(PatternApplicationRow.pattern_id == pattern_id)
        if status is not None:
            query = query.where(PatternApplicationRow.status == status)
        if before is not None:
            created_at, application_id = before
            query = query.where(
                (PatternApplicationRow.created_at < created_at)
                | (
                    (PatternApplicationRow.created_at == created_at)
                    & (PatternApplicationRow.id < application_id)
                )
            )
        async with self._db.sessions() as session:
            return [_application(row) for row in await session.scalars(query.limit(limit))]

    async def unfinished(self) -> builtins.list[Application]:
        unfinished = [ApplicationStatus.PENDING.value, ApplicationStatus.RUNNING.value]
        query = select(PatternApplicationRow).where(PatternApplicationRow.status.in_(unfinished))
        async with self._db.sessions() as session:
            rows = await session.scalars(query.order_by(PatternApplicationRow.created_at))
            return [_application(row) for row in rows]


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
