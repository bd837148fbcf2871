"""The ``servers`` table and its queries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.registry.models import ServerSpec


class ServerRow(Base):
    __tablename__ = "servers"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    config_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class StoredServer:
    spec: ServerSpec
    source: str
    config_digest: str | None
    created_at: datetime
    updated_at: datetime


def digest(spec: ServerSpec) -> str:
    """A stable fingerprint of a spec as written in a config file."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _to_stored(row: ServerRow) -> StoredServer:
    spec = ServerSpec.model_validate({**row.spec, "enabled": row.enabled})
    return StoredServer(spec, row.source, row.config_digest, row.created_at, row.updated_at)


class ServerStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def list(self) -> list[StoredServer]:
        async with self._db.sessions() as session:
            rows = await session.scalars(select(ServerRow).order_by(ServerRow.name))
            return [_to_stored(row) for row in rows]

    async def get(self, name: str) -> StoredServer | None:
        async with self._db.sessions() as session:
            row = await session.get(ServerRow, name)
            return _to_stored(row) if row else None

    async def put(self, spec: ServerSpec, *, source: str, config_digest: str | None, now: datetime) -> None:
        """Insert or replace a server's spec."""
        body = spec.model_dump(mode="json", exclude={"enabled"})
        async with self._db.write() as session:
            row = await session.get(ServerRow, spec.name)
            if row is None:
                session.add(
                    ServerRow(
                        name=spec.name,
                        spec=body,
                        enabled=spec.enabled,
                        source=source,
                        config_digest=config_digest,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.spec, row.enabled, row.source = body, spec.enabled, source
                row.config_digest, row.updated_at = config_digest, now

    async def set_enabled(self, name: str, enabled: bool, now: datetime) -> bool:
        """Returns False when there is no such server."""
        async with self._db.write() as session:
            row = await session.get(ServerRow, name)
            if row is None:
                return False
            row.enabled, row.updated_at = enabled, now
            return True

    async def delete(self, name: str) -> bool:
        async with self._db.write() as session:
            result = await session.execute(delete(ServerRow).where(ServerRow.name == name))
            return bool(result.rowcount)  # type: ignore[attr-defined]
