"""The hub's built-in node, and the directory of the nodes the hub knows.

The hub is itself a node: it runs the stdio servers of its own machine. The built-in node has a name
(the host name unless set), labels, a ``boot_id`` new at each start of the process, and an inventory
measured every ``inventory_interval_s``. It publishes ``node.joined`` on the ``nodes`` topic when it
starts and ``node.inventory`` when its inventory or labels change in a way that matters (see
``inventory.shape``), not at every wiggle of the load. How to measure is ``cluster/inventory.py``'s
business; other nodes join the ``NodeDirectory`` through the scale-out membership.
"""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import anyio

from corral.clock import Clock
from corral.cluster.inventory import changed, take_inventory
from corral.cluster.models import Inventory, LocalModel, NodeInfo
from corral.config.settings import NODE_NAME_PATTERN, NodeSettings
from corral.errors import NotFound
from corral.events.bus import EventBus
from corral.observability import logcontext

logger = logging.getLogger(__name__)

TOPIC = "nodes"


def default_node_name(host_name: str) -> str:
    """A node name from a host name: characters a node name may not hold become ``-``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", host_name).lstrip("._-")[:63]
    return name if re.match(NODE_NAME_PATTERN, name) else "corral"


class BuiltinNode:
    """The node the hub itself is. ``run`` measures and publishes; ``info`` is what is known now."""

    def __init__(
        self,
        settings: NodeSettings,
        bus: EventBus,
        clock: Clock,
        *,
        servers: Callable[[], Iterable[str]] = tuple,
        host_name: Callable[[], str] = socket.gethostname,
    ) -> None:
        """``servers``: the names of the MCP servers this node runs (read at each ``info``)."""
        self._settings = settings
        self._bus = bus
        self._clock = clock
        self._servers = servers
        self.name = settings.name or default_node_name(host_name())
        self.labels: dict[str, str] = dict(settings.labels)
        self.boot_id = uuid.uuid4().hex
        """New at each start of the process: a node seen again with another boot_id was restarted."""
        self.joined_at: datetime = clock.now()
        self.inventory: Inventory | None = None
        """The latest inventory; None until the first one is taken (``run`` takes it before it is
        started)."""
        self._alive = False

    def info(self) -> NodeInfo:
        return NodeInfo(
            name=self.name,
            labels=dict(self.labels),
            builtin=True,
            alive=self._alive,
            boot_id=self.boot_id,
            joined_at=self.joined_at,
            inventory=self.inventory,
            servers=tuple(sorted(self._servers())),
        )

    async def refresh(self) -> Inventory:
        """Measure now; publish ``node.inventory`` when the result differs in a way that matters."""
        before = self.inventory
        self.inventory = await take_inventory(
            self._settings.model_endpoints, self._settings.probe_timeout_s, self._clock
        )
        if before is not None and changed(before, self.inventory):
            self._publish("node.inventory")
        return self.inventory

    def set_labels(self, labels: Mapping[str, str]) -> None:
        """Replace the node's labels; publishes ``node.inventory`` when they differ."""
        if dict(labels) != self.labels:
            self.labels = dict(labels)
            self._publish("node.inventory")

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Take the first inventory, join (``node.joined``), then measure again on the interval."""
        with logcontext.bound(node=self.name):
            await self._run(task_status)

    async def _run(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        self.joined_at = self._clock.now()
        await self.refresh()
        self._alive = True
        try:
            self._publish("node.joined")
            logger.info(
                "node %s joined: %d CPUs, %s MiB memory, %d GPUs, %d local models",
                self.name,
                self.inventory.cpus if self.inventory else 0,
                self.inventory.memory_total_mib if self.inventory else None,
                len(self.inventory.gpus.gpus) if self.inventory else 0,
                len(self.inventory.models) if self.inventory else 0,
            )
            task_status.started()
            while True:
                await anyio.sleep(self._settings.inventory_interval_s)
                try:
                    await self.refresh()
                except Exception:
                    # A bug in measuring must not take the hub down; the last inventory stands.
                    logger.exception("taking the inventory of node %s failed", self.name)
        finally:
            self._alive = False

    def _publish(self, kind: str) -> None:
        self._bus.publish(TOPIC, kind, self.name, self.info().to_json())


class NodeDirectory:
    """Every node the hub knows by name: the built-in one, and the ``corral node``s that report to it
    (kept up to date by the scale-out membership, ``cluster/nats/membership.py``)."""

    def __init__(self, builtin: BuiltinNode) -> None:
        self.builtin = builtin
        self._others: dict[str, NodeInfo] = {}

    def nodes(self) -> list[NodeInfo]:
        """Every node, sorted by name."""
        return sorted([self.builtin.info(), *self._others.values()], key=lambda node: node.name)

    def put(self, node: NodeInfo) -> None:
        """Add or replace another node (never one named as the built-in node: the caller sees to it)."""
        self._others[node.name] = node

    def remove(self, name: str) -> None:
        self._others.pop(name, None)

    def get(self, name: str) -> NodeInfo:
        """Raises: NotFound, naming the nodes there are."""
        for node in self.nodes():
            if node.name == name:
                return node
        known = ", ".join(node.name for node in self.nodes())
        raise NotFound(f"no node is called {name!r}; known: {known}")

    def models(self, name: str) -> tuple[tuple[LocalModel, ...], tuple[str, ...]]:
        """The models a node serves and the endpoints it could not ask. Raises: NotFound."""
        inventory = self.get(name).inventory
        return (inventory.models, inventory.model_errors) if inventory else ((), ())
