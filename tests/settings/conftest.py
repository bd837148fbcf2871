"""A migrated store on each backend, for the settings tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    opened = open_database(store_url)
    await upgrade(opened)
    yield opened
    await opened.close()
