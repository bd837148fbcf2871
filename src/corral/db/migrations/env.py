"""Alembic environment: runs migrations on the connection Corral hands it."""

from __future__ import annotations

from alembic import context

from corral.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Corral runs its migrations through `corral db upgrade`, which supplies the connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
