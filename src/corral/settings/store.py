"""The ``settings`` table: one row per runtime setting that differs from its default."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database


class SettingRow(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    file_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SettingStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def load(self) -> dict[str, tuple[Any, Any]]:
        """key → (current value, value the config file last gave)."""
        async with self._db.sessions() as session:
            rows = await session.scalars(select(SettingRow))
            return {row.key: (row.value, row.file_value) for row in rows}

    async def save(self, values: dict[str, Any], now: datetime, *, from_file: bool = False) -> None:
        async with self._db.write() as session:
            for key, value in values.items():
                row = await session.get(SettingRow, key)
                if row is None:
                    row = SettingRow(key=key, value=value, file_value=None, updated_at=now)
                    session.add(row)
                row.value, row.updated_at = value, now
                if from_file:
                    row.file_value = value
