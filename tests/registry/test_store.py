"""The ``servers`` table on SQLite and PostgreSQL: specs go in and come back unchanged, secrets sealed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade
from corral.registry.models import ServerSpec
from corral.registry.store import ServerRow, ServerStore
from corral.secrets.cipher import SEALED_PREFIX, SecretCipher, SecretsKeyMismatch

pytestmark = pytest.mark.anyio

CIPHER = SecretCipher("store tests: a secrets key long enough", "the test key")
OTHER_KEY = SecretCipher("store tests: some other key, as long", "the other test key")
SECRET = "s3cr3t-4f9a1c77e2b04d5e9a0c"
T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def spec(name: str, **entry: object) -> ServerSpec:
    return ServerSpec.from_client_entry(name, {"command": "uvx", "args": ["mcp-server-time"], **entry})


async def test_a_stored_spec_comes_back_with_every_field_source_and_times(database: Database) -> None:
    store = ServerStore(database, CIPHER)
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

    await store.put(written, source="config", config_digest=store.digest(written), now=T0)
    stored = await store.get("time")

    assert stored is not None
    assert stored.spec == written
    assert (stored.source, stored.config_digest) == ("config", store.digest(written))
    assert stored.created_at == stored.updated_at == T0
    assert stored.created_at.tzinfo is not None


async def test_an_http_spec_round_trips_with_its_headers(database: Database) -> None:
    store = ServerStore(database, CIPHER)
    written = ServerSpec.from_client_entry(
        "remote", {"type": "http", "url": "https://mcp.example.com/mcp", "headers": {"X-Key": "k"}}
    )

    await store.put(written, source="api", config_digest=None, now=T0)

    stored = await store.get("remote")
    assert stored is not None
    assert stored.spec == written
    assert stored.config_digest is None


async def test_put_replaces_the_spec_and_keeps_the_creation_time(database: Database) -> None:
    store = ServerStore(database, CIPHER)
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
    store = ServerStore(database, CIPHER)
    for name in ("zeta", "alpha", "mid"):
        await store.put(spec(name), source="api", config_digest=None, now=T0)

    assert [server.spec.name for server in await store.list()] == ["alpha", "mid", "zeta"]


async def test_set_enabled_changes_only_whether_the_server_is_enabled(database: Database) -> None:
    store = ServerStore(database, CIPHER)
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
    store = ServerStore(database, CIPHER)
    await store.put(spec("time"), source="api", config_digest=None, now=T0)

    assert await store.delete("time") is True

    assert await store.get("time") is None
    assert await store.list() == []


async def test_unknown_names_are_reported_not_invented(database: Database) -> None:
    store = ServerStore(database, CIPHER)

    assert await store.get("ghost") is None
    assert await store.set_enabled("ghost", False, T0) is False
    assert await store.delete("ghost") is False
    assert await store.list() == []


async def test_the_digest_changes_with_the_entry_and_not_with_key_order(database: Database) -> None:
    store = ServerStore(database, CIPHER)
    first = ServerSpec.from_client_entry("a", {"command": "x", "env": {"A": "1", "B": "2"}})
    same = ServerSpec.from_client_entry("a", {"env": {"B": "2", "A": "1"}, "command": "x"})
    changed = ServerSpec.from_client_entry("a", {"command": "x", "env": {"A": "1", "B": "3"}})

    assert store.digest(first) == store.digest(same)
    assert store.digest(first) != store.digest(changed)


async def test_the_digest_is_keyed_so_it_cannot_be_checked_against_guessed_secrets(
    database: Database,
) -> None:
    written = ServerSpec.from_client_entry("a", {"command": "x", "env": {"PASSWORD": "hunter2"}})
    canonical = json.dumps(written.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    keyed = ServerStore(database, CIPHER).digest(written)

    assert keyed != hashlib.sha256(canonical.encode()).hexdigest()
    assert keyed != ServerStore(database, OTHER_KEY).digest(written)


async def stored_bodies(database: Database) -> dict[str, str]:
    """Each row's spec column exactly as the database holds it."""
    async with database.sessions() as session:
        rows = await session.execute(text("SELECT name, CAST(spec AS TEXT) FROM servers"))
        return {row[0]: row[1] for row in rows}


async def test_env_values_and_headers_are_stored_encrypted_and_read_back_in_clear(database: Database) -> None:
    store = ServerStore(database, CIPHER)
    stdio = spec("time", env={"API_TOKEN": SECRET, "TZ": "UTC"})
    remote = ServerSpec.from_client_entry(
        "remote", {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": f"Bearer {SECRET}"}}
    )

    await store.put(stdio, source="api", config_digest=None, now=T0)
    await store.put(remote, source="api", config_digest=None, now=T0)

    bodies = await stored_bodies(database)
    assert all(SECRET not in body and "UTC" not in body for body in bodies.values())
    stored = {name: json.loads(body)["env" if name == "time" else "headers"] for name, body in bodies.items()}
    assert set(stored["time"]) == {"API_TOKEN", "TZ"}
    assert all(value.startswith(SEALED_PREFIX) for values in stored.values() for value in values.values())
    assert [server.spec for server in await store.list()] == [remote, stdio]


async def store_in_clear(database: Database, written: ServerSpec) -> None:
    """Store a spec as a hub from before encryption did."""
    async with database.write() as session:
        session.add(
            ServerRow(
                name=written.name,
                spec=written.model_dump(mode="json", exclude={"enabled"}),
                enabled=True,
                source="config",
                config_digest=None,
                created_at=T0,
                updated_at=T0,
            )
        )


async def test_rows_stored_in_clear_are_sealed_once_at_start(database: Database) -> None:
    written = spec("time", env={"API_TOKEN": SECRET})
    await store_in_clear(database, written)
    store = ServerStore(database, CIPHER)

    assert await store.seal_clear() == 1
    assert await store.seal_clear() == 0

    assert SECRET not in (await stored_bodies(database))["time"]
    stored = await store.get("time")
    assert stored is not None and stored.spec == written


async def test_secrets_stored_under_another_key_stop_the_store_with_an_error_that_says_what_to_do(
    database: Database,
) -> None:
    await ServerStore(database, CIPHER).put(
        spec("time", env={"API_TOKEN": SECRET}), source="api", config_digest=None, now=T0
    )
    other = ServerStore(database, OTHER_KEY)

    with pytest.raises(SecretsKeyMismatch) as raised:
        await other.seal_clear()
    with pytest.raises(SecretsKeyMismatch):
        await other.list()

    assert raised.value.code == "secrets_key_mismatch"
    assert "server 'time'" in raised.value.message
    assert "the other test key" in raised.value.message
    assert "CORRAL_SECRETS_KEY" in raised.value.message
    assert SECRET not in raised.value.message


async def test_sealing_leaves_no_clear_copy_in_the_sqlite_files_of_the_running_store(tmp_path: Path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await upgrade(database)
    await store_in_clear(database, spec("time", env={"API_TOKEN": SECRET}))

    await ServerStore(database, CIPHER).seal_clear()
    files = await anyio.to_thread.run_sync(lambda: [path.read_bytes() for path in tmp_path.glob("store.db*")])
    await database.close()

    assert len(files) == 3  # the database, its WAL and the WAL's index
    assert all(SECRET.encode() not in data for data in files)
