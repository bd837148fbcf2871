"""What a node tells the hubs, through the nodes bucket: that it lives, and what it is and runs.

Every heartbeat interval it writes ``hb.<node>`` with a per-message TTL (its boot and its servers'
states): when the node dies, the key expires and the hubs see it. When its labels, inventory (as far
as it matters, ``inventory.shape``) or servers (specs, tools) change — and every ``REPORT_REFRESH_S``
besides, so the report outlives it by its TTL only — it writes ``inv.<node>``. On a clean stop it
deletes its heartbeat, so the hubs need not wait for the TTL. A failed write is logged and tried again
at the next beat; NATS being away never stops the node.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from nats.js import JetStreamContext

from corral.clock import Clock
from corral.cluster.builtin import BuiltinNode
from corral.cluster.inventory import shape
from corral.cluster.nats import fabric
from corral.cluster.nats.wire import Heartbeat, HostedServer, NodeReport, ServerBeat, encode, inventory_json
from corral.config.settings import ClusterSettings
from corral.settings.live import CurrentSettings
from corral.supervisor.runner import ServerRunner
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

REPORT_REFRESH_S = 600.0


def beat_of(runner: ServerRunner, now: float) -> ServerBeat:
    """``now``: the clock's monotonic seconds, for the uptime."""
    state = runner.state
    return ServerBeat(
        status=state.status.value,
        detail=state.detail,
        circuit_state=state.circuit_state.value,
        consecutive_failures=state.consecutive_failures,
        calls_in_flight=state.calls_in_flight,
        last_error=state.last_error,
        latency_ms=state.latency_ms,
        restarts=state.restarts,
        pid=state.pid,
        uptime_s=state.uptime_s(now),
    )


def hosted(runner: ServerRunner, default_timeout_s: float) -> HostedServer:
    return HostedServer(
        name=runner.spec.name,
        spec=runner.spec.public_view(),
        call_timeout_s=runner.spec.call_timeout_s or default_timeout_s,
        tools=[tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in runner.state.tools],
    )


class Reporter:
    def __init__(
        self,
        js: JetStreamContext,
        node: BuiltinNode,
        supervisor: Supervisor,
        runtime: CurrentSettings,
        settings: ClusterSettings,
        clock: Clock,
    ) -> None:
        self._js = js
        self._node = node
        self._supervisor = supervisor
        self._runtime = runtime
        self._settings = settings
        self._clock = clock
        self._seq = 0
        self._reported: Any = None
        self._reported_at = -REPORT_REFRESH_S
        self._leaving = anyio.Event()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Report and beat until cancelled; started once the first report and beat are written.

        Raises: FabricUnavailable — the first ones could not be written.
        """
        await self._report(strict=True)
        await self._beat(strict=True)
        task_status.started()
        while True:
            with anyio.move_on_after(self._settings.heartbeat_interval_s):
                await self._leaving.wait()
            if self._leaving.is_set():
                return
            await self._beat()
            await self._report()

    async def leave(self) -> None:
        """Beat no more and delete the heartbeat, so that the hubs count the node as stopped at once
        (bounded, logged). A beat already sent went first on the same connection: the delete stands."""
        self._leaving.set()
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                bucket = await self._js.key_value(fabric.NODES_BUCKET)
                await bucket.delete(fabric.heartbeat_key(self._node.name))
        except fabric.NatsErrors as exc:
            logger.warning("cannot tell NATS that node %s stops: %s", self._node.name, exc)

    def _runners(self) -> list[ServerRunner]:
        return self._supervisor.runners()

    async def _beat(self, *, strict: bool = False) -> None:
        self._seq += 1
        beat = Heartbeat(
            boot_id=self._node.boot_id,
            seq=self._seq,
            servers={
                runner.spec.name: beat_of(runner, self._clock.monotonic()) for runner in self._runners()
            },
        )
        await self._write(
            fabric.heartbeat_key(self._node.name), encode(beat), self._settings.node_ttl_s, strict
        )

    async def _report(self, *, strict: bool = False) -> None:
        info = self._node.info()
        timeout = self._runtime.current.call_timeout_s
        servers = [hosted(runner, timeout) for runner in self._runners()]
        key = (
            info.labels,
            shape(info.inventory) if info.inventory else None,
            [server.model_dump() for server in servers],
        )
        stale = self._clock.monotonic() - self._reported_at >= REPORT_REFRESH_S
        if key == self._reported and not stale:
            return
        report = NodeReport(
            boot_id=info.boot_id,
            labels=info.labels,
            joined_at=info.joined_at,
            inventory=inventory_json(info.inventory),
            servers=servers,
        )
        if await self._write(fabric.report_key(self._node.name), encode(report), fabric.REPORT_TTL_S, strict):
            self._reported, self._reported_at = key, self._clock.monotonic()

    async def _write(self, key: str, value: bytes, ttl_s: int, strict: bool) -> bool:
        """Raises: FabricUnavailable when ``strict``; else a failure is logged and False returned."""
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                await self._js.publish(fabric.kv_subject(key), value, msg_ttl=ttl_s)
        except fabric.NatsErrors as exc:
            if strict:
                raise fabric.unavailable(f"cannot write {key}", exc) from exc
            logger.warning("cannot write %s: %s", key, exc)
            return False
        return True
