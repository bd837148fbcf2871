"""The ``servers`` table and its queries; env values and headers are stored sealed (encrypted).

Rows written before encryption hold them in clear: ``seal_clear`` seals those at start-up and,
on SQLite, rewrites the file so the clear copies are gone from its free pages too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.registry.models import ServerSpec
from corral.secrets.cipher import SecretCipher

SEALED_FIELDS = ("env", "headers")


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


class ServerStore:
    def __init__(self, database: Database, cipher: SecretCipher) -> None:
        self._db = database
        self._cipher = cipher

    def digest(self, spec: ServerSpec) -> str:
        """A stable fingerprint of a spec as written in a config file (keyed: it hides the secrets)."""
        canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return self._cipher.fingerprint(canonical.encode())

    async def seal_clear(self) -> int:
        """Seal the secrets of rows stored in clear; returns how many rows that was.

        Raises: SecretsKeyMismatch when a sealed one does not open with this hub's key.
        """
        sealed = 0
        async with self._db.write() as session:
            for row in await session.scalars(select(ServerRow)):
                self._to_stored(row)  # every stored secret must open with this key
                body = self._sealed(row.spec)
                if body != row.spec:
                    row.spec = body
                    sealed += 1
        if sealed:
            await self._db.reclaim()
        return sealed

    async def list(self) -> list[StoredServer]:
        """Raises: SecretsKeyMismatch (as every read does) when a stored secret does not open."""
        async with self._db.sessions() as session:
            rows = await session.scalars(select(ServerRow).order_by(ServerRow.name))
            return [self._to_stored(row) for row in rows]

    async def get(self, name: str) -> StoredServer | None:
        async with self._db.sessions() as session:
            row = await session.get(ServerRow, name)
            return self._to_stored(row) if row else None

    async def put(self, spec: ServerSpec, *, source: str, config_digest: str | None, now: datetime) -> None:
        """Insert or replace a server's spec."""
        body = self._sealed(spec.model_dump(mode="json", exclude={"enabled"}))
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

    def _sealed(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with its clear env values and headers sealed (sealed ones stay as they are)."""
        return {
            **body,
            **{
                part: {
                    key: value if self._cipher.is_sealed(value) else self._cipher.seal(value)
                    for key, value in body.get(part, {}).items()
                }
                for part in SEALED_FIELDS
            },
        }

    def _to_stored(self, row: ServerRow) -> StoredServer:
        owner = f"server {row.name!r}"
        opened = {
            part: {
                key: self._cipher.unseal(value, owner=owner) for key, value in row.spec.get(part, {}).items()
            }
            for part in SEALED_FIELDS
        }
        spec = ServerSpec.model_validate({**row.spec, **opened, "enabled": row.enabled})
        return StoredServer(spec, row.source, row.config_digest, row.created_at, row.updated_at)
