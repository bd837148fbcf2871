"""Reconciling the registry with the config file, with a running supervisor and real echo servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from corral.clock import SystemClock
from corral.db.engine import Database
from corral.errors import Conflict, NotFound
from corral.events.bus import EventBus
from corral.registry.models import ServerSpec
from corral.registry.registry import FROM_API, FROM_CONFIG, Registry
from corral.registry.store import ServerStore
from corral.secrets.cipher import SecretCipher
from corral.settings.live import LiveSettings
from corral.settings.store import SettingStore
from corral.supervisor.state import ServerStatus
from corral.supervisor.supervisor import Supervisor
from tests.support import server_entry, wait_until

pytestmark = pytest.mark.anyio

CIPHER = SecretCipher("registry tests: a secrets key long enough", "the test key")


def echo(name: str, **extra: Any) -> ServerSpec:
    """The echo test server's entry, as a config file or the API gives it."""
    return ServerSpec.from_client_entry(name, {**server_entry("echo"), **extra})


def parked(name: str, **extra: Any) -> ServerSpec:
    """An echo entry marked ``disabled: true``: stored and supervised, never spawned (tests about specs)."""
    return echo(name, disabled=True, **extra)


@dataclass
class Running:
    registry: Registry
    supervisor: Supervisor


@asynccontextmanager
async def running(database: Database) -> AsyncIterator[Running]:
    """A registry over ``database`` with its supervisor running, as the hub wires them; one 'hub start'."""
    clock = SystemClock()
    bus = EventBus(clock)
    settings = LiveSettings(SettingStore(database), clock)
    await settings.load({})
    supervisor = Supervisor(settings, bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        yield Running(Registry(ServerStore(database, CIPHER), supervisor, bus, clock), supervisor)
        tg.cancel_scope.cancel()


async def wait_for_status(supervisor: Supervisor, name: str, status: ServerStatus) -> None:
    await anyio.to_thread.run_sync(wait_until, lambda: supervisor.runner(name).state.status is status)


async def test_config_servers_are_stored_and_started(database: Database) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((echo("echo"), parked("parked")))

        stored = {server.spec.name: server for server in await hub.registry.list()}
        assert set(stored) == {"echo", "parked"}
        assert {server.source for server in stored.values()} == {FROM_CONFIG}
        assert [runner.spec.name for runner in hub.supervisor.runners()] == ["echo", "parked"]
        await wait_for_status(hub.supervisor, "parked", ServerStatus.DISABLED)
        await wait_for_status(hub.supervisor, "echo", ServerStatus.HEALTHY)
        assert [tool.name for tool in hub.supervisor.runner("echo").state.tools] == [
            "echo",
            "add",
            "request_meta",
        ]


async def test_a_changed_config_entry_replaces_the_stored_spec(database: Database) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((parked("echo", tags=["old"]),))

    async with running(database) as hub:
        await hub.registry.reconcile((parked("echo", tags=["new"], env={"MODE": "2"}),))

        stored = await hub.registry.get("echo")
        assert stored.spec.tags == ("new",)
        assert stored.spec.env == {"MODE": "2"}
        assert hub.supervisor.runner("echo").spec == stored.spec


async def test_a_server_disabled_at_run_time_stays_disabled_while_its_config_entry_is_unchanged(
    database: Database,
) -> None:
    config = (echo("echo"),)
    async with running(database) as hub:
        await hub.registry.reconcile(config)
        await wait_for_status(hub.supervisor, "echo", ServerStatus.HEALTHY)
        await hub.registry.set_enabled("echo", False)

    async with running(database) as hub:
        await hub.registry.reconcile(config)

        assert (await hub.registry.get("echo")).spec.enabled is False
        await wait_for_status(hub.supervisor, "echo", ServerStatus.DISABLED)


async def test_a_changed_config_entry_overrides_a_run_time_disable(database: Database) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((echo("echo"),))
        await wait_for_status(hub.supervisor, "echo", ServerStatus.HEALTHY)
        await hub.registry.set_enabled("echo", False)

    async with running(database) as hub:
        await hub.registry.reconcile((echo("echo", max_concurrent=2),))

        stored = await hub.registry.get("echo")
        assert (stored.spec.enabled, stored.spec.max_concurrent) == (True, 2)
        await wait_for_status(hub.supervisor, "echo", ServerStatus.HEALTHY)


async def test_servers_gone_from_the_config_are_removed_and_servers_from_the_api_stay(
    database: Database,
) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((parked("kept"), parked("dropped")))
        await hub.registry.register(parked("registered"))

    async with running(database) as hub:
        await hub.registry.reconcile((parked("kept"),))

        sources = {server.spec.name: server.source for server in await hub.registry.list()}
        assert sources == {"kept": FROM_CONFIG, "registered": FROM_API}
        assert [runner.spec.name for runner in hub.supervisor.runners()] == ["kept", "registered"]


async def test_removing_a_server_forgets_it_and_stops_supervising_it(database: Database) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((parked("kept"), parked("dropped")))

        await hub.registry.remove("dropped")

        with pytest.raises(NotFound):
            hub.supervisor.runner("dropped")
        assert [server.spec.name for server in await hub.registry.list()] == ["kept"]


async def test_registering_a_name_that_is_taken_is_a_conflict(database: Database) -> None:
    async with running(database) as hub:
        await hub.registry.reconcile((parked("echo"),))

        with pytest.raises(Conflict) as raised:
            await hub.registry.register(parked("echo", tags=["again"]))

        assert "'echo' already exists" in raised.value.message
        assert (await hub.registry.get("echo")).spec.tags == ()


async def test_registered_servers_are_stored_and_supervised(database: Database) -> None:
    async with running(database) as hub:
        registered = parked("echo", tags=["new"])

        await hub.registry.register(registered)

        stored = await hub.registry.get("echo")
        assert (stored.spec, stored.source) == (registered, FROM_API)
        assert hub.supervisor.runner("echo").spec == registered


async def test_unknown_names_are_not_found(database: Database) -> None:
    async with running(database) as hub:
        for attempt in (
            hub.registry.get("ghost"),
            hub.registry.set_enabled("ghost", True),
            hub.registry.remove("ghost"),
            hub.registry.update(parked("ghost")),
        ):
            with pytest.raises(NotFound) as raised:
                await attempt
            assert raised.value.message == "no server named 'ghost'"
