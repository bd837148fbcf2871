"""The ``servers`` table on SQLite and PostgreSQL: specs go in and come back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.db.engine import Database
from corral.registry.models import ServerSpec
from corral.registry.store import ServerStore, digest

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def spec(name: str, **entry: object) -> ServerSpec:
    return ServerSpec.from_client_entry(name, {"command": "uvx", "args": ["mcp-server-time"], **entry})


async def test_a_stored_spec_comes_back_with_every_field_source_and_times(database: Database) -> None:
    store = ServerStore(database)
    written = spec(
        "time",
        env={"TZ": "UTC"},
        tags=["clock"],
        capabilities=["time"],
        max_concurrent=2,
        call_timeout_s=5.5,
        canary={"tool": "get_current_time", "arguments": {"timezone": "UTC"}},
        watch_tools=True,
    )

    await store.put(written, source="config", config_digest=digest(written), now=T0)
    stored = await store.get("time")

    assert stored is not None
    assert stored.spec == written
    assert (stored.source, stored.config_digest) == ("config", digest(written))
    assert stored.created_at == stored.updated_at == T0
    assert stored.created_at.tzinfo is not None


async def test_an_http_spec_round_trips_with_its_headers(database: Database) -> None:
    store = ServerStore(database)
    written = ServerSpec.from_client_entry(
        "remote", {"type": "http", "url": "https://mcp.example.com/mcp", "headers": {"X-Key": "k"}}
    )

    await store.put(written, source="api", config_digest=None, now=T0)

    stored = await store.get("remote")
    assert stored is not None
    assert stored.spec == written
    assert stored.config_digest is None


async def test_put_replaces_the_spec_and_keeps_the_creation_time(database: Database) -> None:
    store = ServerStore(database)
    later = T0 + timedelta(minutes=5)
    await store.put(spec("time"), source="config", config_digest="a", now=T0)

    await store.put(
        spec("time", args=["mcp-server-time", "--local-timezone", "UTC"]),
        source="config",
        config_digest="b",
        now=later,
    )

    stored = await store.get("time")
    assert stored is not None
    assert stored.spec.args == ("mcp-server-time", "--local-timezone", "UTC")
    assert stored.config_digest == "b"
    assert (stored.created_at, stored.updated_at) == (T0, later)


async def test_list_returns_every_server_ordered_by_name(database: Database) -> None:
    store = ServerStore(database)
    for name in ("zeta", "alpha", "mid"):
        await store.put(spec(name), source="api", config_digest=None, now=T0)

    assert [server.spec.name for server in await store.list()] == ["alpha", "mid", "zeta"]


async def test_set_enabled_changes_only_whether_the_server_is_enabled(database: Database) -> None:
    store = ServerStore(database)
    written = spec("time", tags=["clock"])
    await store.put(written, source="config", config_digest="d", now=T0)

    assert await store.set_enabled("time", False, T0 + timedelta(seconds=1)) is True

    stored = await store.get("time")
    assert stored is not None
    assert stored.spec == written.model_copy(update={"enabled": False})
    assert stored.config_digest == "d"
    assert stored.updated_at == T0 + timedelta(seconds=1)
    assert await store.set_enabled("time", True, T0) is True
    enabled_again = await store.get("time")
    assert enabled_again is not None and enabled_again.spec.enabled


async def test_delete_removes_the_server(database: Database) -> None:
    store = ServerStore(database)
    await store.put(spec("time"), source="api", config_digest=None, now=T0)

    assert await store.delete("time") is True

    assert await store.get("time") is None
    assert await store.list() == []


async def test_unknown_names_are_reported_not_invented(database: Database) -> None:
    store = ServerStore(database)

    assert await store.get("ghost") is None
    assert await store.set_enabled("ghost", False, T0) is False
    assert await store.delete("ghost") is False
    assert await store.list() == []


def test_the_digest_changes_with_the_entry_and_not_with_key_order() -> None:
    first = ServerSpec.from_client_entry("a", {"command": "x", "env": {"A": "1", "B": "2"}})
    same = ServerSpec.from_client_entry("a", {"env": {"B": "2", "A": "1"}, "command": "x"})
    changed = ServerSpec.from_client_entry("a", {"command": "x", "env": {"A": "1", "B": "3"}})

    assert digest(first) == digest(same)
    assert digest(first) != digest(changed)
