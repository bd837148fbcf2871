"""Which nodes report to the hub, whether each is alive, and the servers each runs.

The membership watches the nodes bucket. A node's report (``inv.<node>``) makes it known: it joins the
``NodeDirectory`` and each of its servers becomes a ``RemoteRunner`` in the supervisor, so its tools are
listed and callable; a later report updates them. Its heartbeats (``hb.<node>``) keep it alive and carry
its servers' states. It is lost when its heartbeat expires (NATS leaves a marker after the TTL), when
it deletes its heartbeat as it stops, when its boot changes (it restarted), or — should the watcher miss
all of these — when no heartbeat came for the TTL plus two intervals. A lost node's servers show
``disconnected`` with the reason, the calls waiting for it end at once (a task's attempt then fails as
``unavailable`` and runs again elsewhere), and its work subject is purged, so nothing stale runs when it
comes back. A node that speaks again after a loss is alive again.

The watcher is made anew after NATS reconnects: nats-py's watchers can stay blind for many seconds after
a server restart (docs/design.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anyio
from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from corral.clock import Clock
from corral.cluster.builtin import NodeDirectory
from corral.cluster.models import NodeInfo
from corral.cluster.nats import fabric
from corral.cluster.nats.calls import RemoteCalls
from corral.cluster.nats.wire import Heartbeat, NodeReport, WireError, decode
from corral.cluster.remote import RemoteRunner, hub_name
from corral.config.settings import ClusterSettings
from corral.errors import Conflict
from corral.events.bus import EventBus
from corral.settings.live import CurrentSettings
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

TOPIC = "nodes"


@dataclass
class _Member:
    name: str
    report: NodeReport | None = None
    boot_id: str | None = None
    seen_at: float = 0.0
    alive: bool = False
    lost_reason: str | None = None
    runners: dict[str, RemoteRunner] = field(default_factory=dict)
    """By the server's name on the node."""


class Membership:
    def __init__(
        self,
        js: JetStreamContext,
        directory: NodeDirectory,
        supervisor: Supervisor,
        calls: RemoteCalls,
        runtime: CurrentSettings,
        bus: EventBus,
        clock: Clock,
        settings: ClusterSettings,
    ) -> None:
        self._js = js
        self._directory = directory
        self._supervisor = supervisor
        self._calls = calls
        self._runtime = runtime
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._members: dict[str, _Member] = {}
        self._refused: set[str] = set()
        self._rewatch = anyio.Event()

    def rewatch(self) -> None:
        """Make the watcher anew (NATS reconnected)."""
        self._rewatch.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the nodes until cancelled; started once the nodes there are now are known.

        Raises: FabricUnavailable — the bucket cannot be opened or watched.
        """
        try:
            bucket = await self._js.key_value(fabric.NODES_BUCKET)
        except fabric.NatsErrors as exc:
            raise fabric.unavailable("cannot open the nodes bucket", exc) from exc
        async with anyio.create_task_group() as tg:
            await tg.start(self._watch, bucket)
            tg.start_soon(self._reap)
            task_status.started()

    async def _watch(self, bucket: KeyValue, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        started = False
        while True:
            self._rewatch = anyio.Event()
            try:
                with anyio.fail_after(self._settings.request_timeout_s):
                    watcher = await bucket.watchall()
            except fabric.NatsErrors as exc:
                if not started:
                    raise fabric.unavailable("cannot watch the nodes bucket", exc) from exc
                logger.warning("cannot watch the nodes bucket now: %s", exc)
                await anyio.sleep(fabric.RECONNECT_WAIT_S)
                continue
            try:
                async with anyio.create_task_group() as tg:

                    async def stop_on_rewatch(scope: anyio.CancelScope = tg.cancel_scope) -> None:
                        await self._rewatch.wait()
                        scope.cancel()

                    tg.start_soon(stop_on_rewatch)
                    async for entry in watcher:
                        if entry is None:  # the keys there were are all read
                            if not started:
                                started = True
                                task_status.started()
                            continue
                        await self._take(entry)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self._settings.request_timeout_s):
                    try:
                        await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it untyped
                    except fabric.NatsErrors as exc:
                        logger.debug("stopping a nodes watcher: %s", exc)

    async def _take(self, entry: KeyValue.Entry) -> None:
        kind, _, node = entry.key.partition(".")
        if node == self._directory.builtin.name:
            if node not in self._refused:
                self._refused.add(node)
                logger.warning(
                    "a node named %s reports, but that is this hub's own node's name: ignored", node
                )
            return
        gone = entry.operation in (KV_DEL, KV_PURGE) or entry.value is None
        try:
            if kind == "hb" and gone:
                why = (
                    "it stopped"
                    if entry.operation == KV_DEL
                    else f"no heartbeat for {self._settings.node_ttl_s}s"
                )
                await self._lose(node, why)
            elif kind == "hb":
                await self._beat(node, decode(Heartbeat, entry.value or b""))
            elif kind == "inv" and gone:
                self._forget(node)
            elif kind == "inv":
                self._report(node, decode(NodeReport, entry.value or b""))
        except WireError as exc:
            logger.warning("node %s wrote %s: %s; ignored", node, entry.key, exc)

    # -- what nodes say ------------------------------------------------------------------------------

    def _report(self, name: str, report: NodeReport) -> None:
        """Raises: WireError."""
        member = self._members.setdefault(name, _Member(name))
        report.inventory_value()  # refuse a report whose inventory is not one
        member.report = report
        wanted = {hosted.name: hosted for hosted in report.servers}
        for server in [server for server in member.runners if server not in wanted]:
            member.runners.pop(server)
            self._supervisor.forget(hub_name(name, server))
        for server, hosted in wanted.items():
            runner = member.runners.get(server)
            if runner is not None:
                runner.update(hosted)
                continue
            runner = RemoteRunner(name, hosted, self._calls, self._runtime, self._bus, self._clock)
            try:
                self._supervisor.attach(runner)
            except Conflict as exc:
                logger.warning("node %s: server %s left out: %s", name, server, exc.message)
                continue
            member.runners[server] = runner
            if not member.alive:
                runner.lost(member.lost_reason or f"node {name} has not sent a heartbeat yet")
        self._publish_node(member, "node.inventory")

    async def _beat(self, name: str, beat: Heartbeat) -> None:
        member = self._members.setdefault(name, _Member(name))
        if member.alive and member.boot_id is not None and beat.boot_id != member.boot_id:
            await self._lose(name, "it restarted")
        member.boot_id = beat.boot_id
        member.seen_at = self._clock.monotonic()
        for server, state in beat.servers.items():
            runner = member.runners.get(server)
            if runner is not None:
                runner.show(state)
        if not member.alive:
            member.alive, member.lost_reason = True, None
            logger.info("node %s is alive (boot %s)", name, beat.boot_id[:8])
            self._publish_node(member, "node.joined")

    async def _lose(self, name: str, reason: str) -> None:
        member = self._members.get(name)
        if member is None or not member.alive:
            return
        member.alive, member.lost_reason = False, reason
        logger.warning("node %s lost: %s", name, reason)
        for runner in member.runners.values():
            runner.lost(f"node {name} lost: {reason}")
        self._calls.node_lost(name, reason)
        self._publish_node(member, "node.lost")
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                await self._js.purge_stream(fabric.WORK_STREAM, subject=fabric.work_subject(name))
        except fabric.NatsErrors as exc:
            logger.warning("cannot purge the work of lost node %s: %s", name, exc)

    def _forget(self, name: str) -> None:
        """The node's report expired: it has been gone long enough to leave the lists."""
        member = self._members.pop(name, None)
        if member is None:
            return
        for server in member.runners:
            self._supervisor.forget(hub_name(name, server))
        self._directory.remove(name)
        logger.info("node %s forgotten: its report expired", name)

    async def _reap(self) -> None:
        """The safety net: a node the watcher heard nothing from for too long is lost all the same."""
        interval = self._settings.heartbeat_interval_s
        limit = self._settings.node_ttl_s + 2 * interval
        while True:
            await anyio.sleep(interval)
            now = self._clock.monotonic()
            for member in list(self._members.values()):
                if member.alive and now - member.seen_at > limit:
                    await self._lose(member.name, f"no heartbeat for {now - member.seen_at:.1f}s")

    def _publish_node(self, member: _Member, kind: str) -> None:
        info = self._info(member)
        if info is None:
            return
        self._directory.put(info)
        self._bus.publish(TOPIC, kind, member.name, info.to_json())

    def _info(self, member: _Member) -> NodeInfo | None:
        report = member.report
        if report is None:
            return None  # known once it reported what it is
        try:
            inventory = report.inventory_value()
        except WireError:
            inventory = None
        return NodeInfo(
            name=member.name,
            labels=dict(report.labels),
            builtin=False,
            alive=member.alive,
            boot_id=member.boot_id or report.boot_id,
            joined_at=report.joined_at,
            inventory=inventory,
            lost_reason=member.lost_reason,
            servers=tuple(sorted(runner.spec.name for runner in member.runners.values())),
        )
