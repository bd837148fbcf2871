"""The hub's scale-out: connect to NATS, make the fabric, follow the nodes and call their servers.

Started by the composition root when the hub has a NATS URL; without one the hub is the one-process
default and none of this runs.
"""

from __future__ import annotations

import anyio

from corral.clock import Clock
from corral.cluster.builtin import NodeDirectory
from corral.cluster.nats import fabric
from corral.cluster.nats.calls import RemoteCalls
from corral.cluster.nats.membership import Membership
from corral.config.settings import ClusterSettings
from corral.events.bus import EventBus
from corral.settings.live import CurrentSettings
from corral.supervisor.supervisor import Supervisor


class ScaleOut:
    def __init__(
        self,
        url: str,
        settings: ClusterSettings,
        directory: NodeDirectory,
        supervisor: Supervisor,
        runtime: CurrentSettings,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self._url = url
        self._settings = settings
        self._directory = directory
        self._supervisor = supervisor
        self._runtime = runtime
        self._bus = bus
        self._clock = clock
        self._membership: Membership | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; started once the nodes that report now are known.

        Raises: FabricUnavailable — NATS cannot be reached, or refuses the streams and bucket.
        """
        name = f"corral-hub {self._directory.builtin.name}"
        async with fabric.connection(
            self._url, name, self._settings, on_reconnect=self._reconnected
        ) as client:
            js = client.jetstream(timeout=self._settings.request_timeout_s)
            await fabric.ensure_fabric(js)
            calls = RemoteCalls(client, js, self._settings, self._clock)
            self._membership = Membership(
                js,
                self._directory,
                self._supervisor,
                calls,
                self._runtime,
                self._bus,
                self._clock,
                self._settings,
            )
            try:
                async with anyio.create_task_group() as tg:
                    await tg.start(calls.run)
                    await tg.start(self._membership.run)
                    task_status.started()
            finally:
                self._membership = None

    async def _reconnected(self) -> None:
        if self._membership is not None:
            self._membership.rewatch()
