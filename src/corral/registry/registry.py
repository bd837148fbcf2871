"""The servers the hub manages: reconciled from the config file at start, changed at run time.

Every change is stored first and then handed to the supervisor, so what runs
always matches what the store says. A server's secret values are made known to the
redaction (``KNOWN``) before it is supervised, so whatever its process prints is masked.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

from corral.clock import Clock
from corral.errors import Conflict, NotFound
from corral.events.bus import EventBus
from corral.registry.models import ServerSpec
from corral.registry.store import ServerStore, StoredServer
from corral.secrets.redact import KNOWN
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

FROM_CONFIG = "config"
FROM_API = "api"
FROM_NODE = "node"
"""A server of another node: its node's config file says what it is."""


class Registry:
    def __init__(self, store: ServerStore, supervisor: Supervisor, bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._supervisor = supervisor
        self._bus = bus
        self._clock = clock

    async def seal_secrets(self) -> None:
        """Check that stored secrets open with the hub's key; encrypt those still stored in clear.

        Raises: SecretsKeyMismatch.
        """
        sealed = await self._store.seal_clear()
        if sealed:
            logger.info("encrypted the env values and headers of %d server(s) stored in clear", sealed)

    async def reconcile(self, config_specs: tuple[ServerSpec, ...]) -> None:
        """Bring the store in line with the config file, then supervise every stored server.

        A config entry that changed replaces the stored spec (including ``enabled``);
        an unchanged one keeps whatever was changed at run time. Servers that came
        from the config and are gone from it are removed; servers registered through
        the API stay.
        """
        stored = {server.spec.name: server for server in await self._store.list()}
        wanted = {spec.name: spec for spec in config_specs}
        now = self._clock.now()
        for name, spec in wanted.items():
            fingerprint = self._store.digest(spec)
            current = stored.get(name)
            if current is None or current.config_digest != fingerprint:
                await self._store.put(spec, source=FROM_CONFIG, config_digest=fingerprint, now=now)
                logger.info(
                    "server %s %s from the config file", name, "added" if current is None else "updated"
                )
        for name, current in stored.items():
            if current.source == FROM_CONFIG and name not in wanted:
                await self._store.delete(name)
                logger.info("server %s removed: no longer in the config file", name)
        for server in await self._store.list():
            self._supervise(server.spec)

    async def list(self) -> list[StoredServer]:
        return await self._store.list()

    def view(self, stored: StoredServer) -> dict[str, Any]:
        """A server as people and programs see it: the live state, the spec with secrets hidden."""
        runner = self._supervisor.runner(stored.spec.name)
        return {
            **runner.state.to_json(self._clock.monotonic()),
            "enabled": stored.spec.enabled,
            "source": stored.source,
            "tags": list(stored.spec.tags),
            "spec": stored.spec.public_view(),
        }

    def node_view(self, runner: ServerRunner) -> dict[str, Any]:
        """A server another node runs (scale-out): its state as its node reports it, not in the store."""
        return {
            **runner.state.to_json(self._clock.monotonic()),
            "enabled": runner.spec.enabled,
            "source": FROM_NODE,
            "tags": list(runner.spec.tags),
            "spec": runner.spec.public_view(),
            "node": runner.node,
        }

    async def views(self) -> builtins.list[dict[str, Any]]:
        """Every supervised server, and those of other nodes; one stored a moment ago and not yet
        supervised is left out."""
        views = []
        for stored in await self._store.list():
            try:
                views.append(self.view(stored))
            except NotFound:
                continue
        views += [self.node_view(runner) for runner in self._supervisor.runners() if runner.node is not None]
        return sorted(views, key=lambda view: str(view["name"]))

    async def describe(self, name: str) -> dict[str, Any]:
        """Raises: NotFound."""
        stored = await self._store.get(name)
        if stored is not None:
            return self.view(stored)
        runner = self._elsewhere(name)
        if runner is None:
            raise NotFound(f"no server named {name!r}", server=name)
        return self.node_view(runner)

    def _elsewhere(self, name: str) -> ServerRunner | None:
        """The server of that name another node runs, if one does."""
        try:
            runner = self._supervisor.runner(name)
        except NotFound:
            return None
        return runner if runner.node is not None else None

    async def get(self, name: str) -> StoredServer:
        """Raises: NotFound."""
        server = await self._store.get(name)
        if server is None:
            raise NotFound(f"no server named {name!r}", server=name)
        return server

    async def register(self, spec: ServerSpec) -> None:
        """Add a new server at run time. Raises: Conflict when the name is taken."""
        if await self._store.get(spec.name) is not None or self._elsewhere(spec.name) is not None:
            raise Conflict(f"a server named {spec.name!r} already exists", server=spec.name)
        await self._store.put(spec, source=FROM_API, config_digest=None, now=self._clock.now())
        self._supervise(spec)
        self._bus.publish("servers", "server.registered", spec.name)

    async def update(self, spec: ServerSpec) -> None:
        """Replace a server's spec. Raises: NotFound."""
        current = await self.get(spec.name)
        await self._store.put(
            spec, source=current.source, config_digest=current.config_digest, now=self._clock.now()
        )
        self._supervise(spec)
        self._bus.publish("servers", "server.updated", spec.name)

    async def set_enabled(self, name: str, enabled: bool) -> ServerSpec:
        """Raises: NotFound."""
        if not await self._store.set_enabled(name, enabled, self._clock.now()):
            raise NotFound(f"no server named {name!r}", server=name)
        spec = (await self.get(name)).spec
        self._supervise(spec)
        return spec

    async def remove(self, name: str) -> None:
        """Raises: NotFound."""
        if not await self._store.delete(name):
            raise NotFound(f"no server named {name!r}", server=name)
        self._supervisor.forget(name)
        KNOWN.forget(name)

    def _supervise(self, spec: ServerSpec) -> None:
        # Its secrets are masked everywhere before its process can print them.
        KNOWN.remember(spec.name, spec.known_secrets())
        self._supervisor.apply(spec)
