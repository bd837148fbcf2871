"""Bringing a store's schema up to date with Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from corral.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(database: Database) -> None:
    """Apply every migration not yet applied; safe to call on each start."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "heads")

    async with database.engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(database: Database) -> str | None:
    """The store's revision (several, comma-separated, while migration branches are open)."""

    def read(connection: Connection) -> str | None:
        heads = MigrationContext.configure(connection).get_current_heads()
        return ",".join(sorted(heads)) or None

    async with database.engine.connect() as connection:
        return await connection.run_sync(read)
