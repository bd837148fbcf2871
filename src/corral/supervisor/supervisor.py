"""All server runners of the hub, each in its own cancel scope under one task group.

A runner that misbehaves (a restart storm) only ever sleeps or waits in its own
task, so it cannot slow the others. Each runner's task starts with the server's
name bound for logging, so every line of it (and of the tasks it starts) names it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

import anyio
from anyio.abc import TaskGroup

from corral.clock import Clock
from corral.errors import Conflict, NotFound
from corral.events.bus import EventBus
from corral.observability import logcontext
from corral.registry.models import ServerSpec
from corral.settings.live import CurrentSettings
from corral.supervisor.runner import ServerRunner

logger = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self, settings: CurrentSettings, bus: EventBus, clock: Clock, rng: random.Random | None = None
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._clock = clock
        self._rng = rng or random.Random()
        self._runners: dict[str, ServerRunner] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    def runner(self, name: str) -> ServerRunner:
        """Raises: NotFound when no server has that name."""
        try:
            return self._runners[name]
        except KeyError:
            raise NotFound(f"no server named {name!r}", server=name) from None

    def runners(self) -> list[ServerRunner]:
        return [self._runners[name] for name in sorted(self._runners)]

    async def first_started(self, names: Iterable[str]) -> None:
        """Wait until each named, enabled server had its first start attempt (at most the connect
        timeout); names of no server are passed over."""
        waiting = [
            runner
            for name in names
            if (runner := self._runners.get(name)) is not None and runner.spec.enabled
        ]
        with anyio.move_on_after(self._settings.current.connect_timeout_s):
            for runner in waiting:
                await runner.first_start()

    def apply(self, spec: ServerSpec) -> ServerRunner:
        """Start supervising ``spec``, or hand a changed spec to its runner."""
        existing = self._runners.get(spec.name)
        if existing is not None:
            existing.update_spec(spec)
            return existing
        if self._tg is None:
            raise RuntimeError("the supervisor is not running")
        runner = ServerRunner(spec, self._settings, self._bus, self._clock, random.Random(self._rng.random()))
        scope = anyio.CancelScope()
        self._runners[spec.name] = runner
        self._scopes[spec.name] = scope
        with logcontext.fresh(server=spec.name):  # not the fields of whoever added the server
            self._tg.start_soon(self._own, runner, scope, name=f"server:{spec.name}")
        return runner

    def attach(self, runner: ServerRunner) -> None:
        """Hold a runner that runs elsewhere (a server on another node): listed and called like the others,
        but with no task here. Raises: Conflict when a server of that name is supervised already."""
        if runner.spec.name in self._runners:
            raise Conflict(f"a server named {runner.spec.name!r} already exists", server=runner.spec.name)
        self._runners[runner.spec.name] = runner
        self._bus.publish("servers", "server.registered", runner.spec.name)

    def forget(self, name: str) -> None:
        """Stop supervising a server; its process is stopped and its state dropped."""
        scope = self._scopes.pop(name, None)
        runner = self._runners.pop(name, None)
        if scope is not None:
            scope.cancel()
        if runner is not None:
            self._bus.publish("servers", "server.removed", name)

    async def _own(self, runner: ServerRunner, scope: anyio.CancelScope) -> None:
        with scope:
            try:
                await runner.run()
            except Exception:
                # A bug in one runner must not take the hub down; the others go on.
                logger.exception("the runner of server %s failed", runner.spec.name)
