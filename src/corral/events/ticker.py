"""The ``metrics.tick`` event: the hub's pulse, published on an interval.

Each tick says what happened since the previous one: tool calls per second, the share of them that
failed, the highest per-tool p95 latency among the tools called (the gateway keeps percentiles per
tool), how many circuits are open, how many workflow executions are running, and the servers by
status (and how many are down). The sources are handed in by the composition root, so this module
depends on nothing above the bus.

The ticker also keeps the last day of ticks in memory (``history``), so a page opened now can
draw a chart at once. It is not persisted: a restarted hub starts a new history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import anyio

from corral.clock import Clock
from corral.events.bus import EventBus

HISTORY_S = 24 * 3600.0
SERVING = ("healthy", "disabled")
"""Statuses that do not count as a server down: it serves, or it was turned off on purpose."""


class CallCounts(Protocol):
    def snapshot(self) -> list[dict[str, Any]]:
        """Per server and tool: ``calls``, ``outcomes`` (``ok`` and failures by code), ``p95_ms``."""
        ...


class MetricsTicker:
    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        interval_s: float,
        calls: CallCounts,
        open_circuits: Callable[[], int],
        running_executions: Callable[[], int] = lambda: 0,
        server_statuses: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._interval_s = interval_s
        self._calls = calls
        self._open_circuits = open_circuits
        self._running_executions = running_executions
        self._server_statuses = server_statuses
        self._seen: dict[tuple[str, str], tuple[int, int]] = {}
        self._at = clock.monotonic()
        self.latest: dict[str, Any] | None = None
        """The data of the last tick (None before the first)."""
        self.history: deque[dict[str, Any]] = deque(maxlen=max(1, round(HISTORY_S / interval_s)))
        """The published ticks of the last ``HISTORY_S``, oldest first, each with its ``time``."""

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.sample()
        task_status.started()
        while True:
            await anyio.sleep(self._interval_s)
            sample = self.sample()
            self.history.append({"time": self._clock.now(), **sample})
            self._bus.publish("metrics", "metrics.tick", "hub", sample)

    def sample(self) -> dict[str, Any]:
        """The figures since the previous sample; also kept as ``latest``."""
        now = self._clock.monotonic()
        elapsed, self._at = now - self._at, now
        calls = errors = 0
        p95s: list[float] = []
        for row in self._calls.snapshot():
            key = (row["server"], row["tool"])
            total, ok = row["calls"], row["outcomes"].get("ok", 0)
            seen_total, seen_ok = self._seen.get(key, (0, 0))
            self._seen[key] = (total, ok)
            if total > seen_total:
                calls += total - seen_total
                errors += (total - ok) - (seen_total - seen_ok)
                if row.get("p95_ms") is not None:
                    p95s.append(row["p95_ms"])
        self.latest = {
            "interval_s": round(elapsed, 3),
            "calls": calls,
            "calls_per_s": round(calls / elapsed, 3) if elapsed > 0 else 0.0,
            "error_rate": round(errors / calls, 4) if calls else 0.0,
            "p95_ms": max(p95s) if p95s else None,
            "open_circuits": self._open_circuits(),
            "running_executions": self._running_executions(),
            "servers": (statuses := self._server_statuses()),
            "servers_down": sum(count for status, count in statuses.items() if status not in SERVING),
        }
        return self.latest
