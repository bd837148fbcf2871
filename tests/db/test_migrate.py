"""Migrations on SQLite and PostgreSQL: idempotent, and in step with the models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, inspect
from sqlalchemy.engine import Connection

from corral.db.engine import open_database
from corral.db.migrate import alembic_config, current_revision, upgrade
from corral.db.tables import metadata

pytestmark = pytest.mark.anyio


def head_revision() -> str:
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


async def test_migrations_run_twice_without_error_and_end_at_head(store_url: str) -> None:
    database = open_database(store_url)
    try:
        await upgrade(database)
        await upgrade(database)

        assert await current_revision(database) == head_revision()
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"servers", "settings", "alembic_version"} <= tables
    finally:
        await database.close()


async def test_autogenerate_finds_no_difference_between_migrations_and_models(store_url: str) -> None:
    database = open_database(store_url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found: list[Any] = compare_metadata(context, metadata)
        return found

    try:
        await upgrade(database)
        async with database.engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await database.close()

    assert found == []


async def test_autogenerate_notices_a_column_the_migrations_lack(store_url: str) -> None:
    """Guards the check above: the comparison does see a difference when there is one."""
    extended = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(extended)
    extended.tables["servers"].append_column(Column("owner", String(64), nullable=True))
    database = open_database(store_url)

    def differences(connection: Connection) -> list[Any]:
        found: list[Any] = compare_metadata(MigrationContext.configure(connection), extended)
        return found

    try:
        await upgrade(database)
        async with database.engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await database.close()

    assert [(diff[0], diff[2], diff[3].name) for diff in found] == [("add_column", "servers", "owner")]
