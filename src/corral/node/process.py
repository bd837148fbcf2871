"""The composition root of ``corral node``: builds the node's parts and owns their task group.

Start-up: connect to NATS and wait for a hub to have made the streams and bucket; take the first
inventory; start the config file's servers under the supervisor; report and beat; take work. Stopping
(SIGINT, SIGTERM) drains: no new work, the calls held finish (bounded) or go back to the hub, the
heartbeat is deleted, then the servers are stopped. Nothing here opens a port or a store.
"""

from __future__ import annotations

import logging
import signal
import sys

import anyio

from corral.clock import Clock, SystemClock
from corral.cluster.builtin import BuiltinNode
from corral.cluster.nats import fabric
from corral.config.file import ConfigFile
from corral.config.settings import Settings
from corral.events.bus import EventBus
from corral.node.reporter import Reporter
from corral.node.worker import NodeWorker
from corral.observability import logcontext
from corral.secrets.redact import KNOWN, redact_text
from corral.settings.live import FixedSettings
from corral.settings.models import RuntimeSettings
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)


class CorralNode:
    def __init__(self, settings: Settings, config: ConfigFile, clock: Clock | None = None) -> None:
        """``settings.nats_url`` is set (the CLI checks it)."""
        assert settings.nats_url is not None
        self.settings = settings
        self.config = config
        self.clock = clock or SystemClock()
        self.bus = EventBus(self.clock)  # in-process: the supervisor's and inventory's events stay here
        self.runtime = FixedSettings(RuntimeSettings.model_validate(config.settings))
        self.supervisor = Supervisor(self.runtime, self.bus, self.clock)
        self.node = BuiltinNode(
            settings.node,
            self.bus,
            self.clock,
            servers=lambda: [runner.spec.name for runner in self.supervisor.runners()],
        )
        self.name = self.node.name
        self._worker: NodeWorker | None = None
        self._reporter: Reporter | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; started once the node reported and takes work.

        Raises: FabricUnavailable — NATS cannot be reached or refuses the streams and bucket.
        """
        cluster = self.settings.cluster
        assert self.settings.nats_url is not None
        with logcontext.bound(node=self.name):
            async with fabric.connection(
                self.settings.nats_url, f"corral-node {self.name}", cluster
            ) as client:
                js = client.jetstream(timeout=cluster.request_timeout_s)
                await fabric.await_fabric(js)
                async with anyio.create_task_group() as tg:
                    await tg.start(self.node.run)
                    await tg.start(self.supervisor.run)
                    for spec in self.config.servers:
                        KNOWN.remember(spec.name, spec.known_secrets())
                        self.supervisor.apply(spec)
                    self._reporter = Reporter(
                        js, self.node, self.supervisor, self.runtime, cluster, self.clock
                    )
                    await tg.start(self._reporter.run)
                    self._worker = NodeWorker(self.name, client, js, self.supervisor, cluster, self.clock)
                    await tg.start(self._worker.run)
                    logger.info(
                        "node %s joined NATS at %s with %d server(s)",
                        self.name,
                        redact_text(self.settings.nats_url),
                        len(self.config.servers),
                    )
                    task_status.started()

    async def drain(self) -> None:
        """Stop taking work, let the calls held finish (bounded), and say that the node stops."""
        if self._worker is not None:
            await self._worker.drain()
        if self._reporter is not None:
            await self._reporter.leave()


def run(settings: Settings, config: ConfigFile) -> None:
    """Run a node until SIGINT or SIGTERM, then drain it and stop."""
    anyio.run(_main, CorralNode(settings, config), backend_options={"use_uvloop": sys.platform != "win32"})


async def _main(node: CorralNode) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            tg.start_soon(node.run)  # not awaited: a node waiting for a hub still stops on Ctrl-C
            async for received in signals:
                logger.info("received %s: draining, then stopping", signal.Signals(received).name)
                break
            await node.drain()
            tg.cancel_scope.cancel()
    logger.info("node %s stopped", node.name)
