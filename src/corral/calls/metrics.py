"""Counting tool calls through the gateway: per server and tool, by outcome, with latencies.

Kept in memory for the health tool, the ``metrics.tick`` event and ``/metrics``; a
bounded window of recent latencies per tool gives percentiles without unbounded
growth, and a count per latency bucket gives Prometheus its histogram. ``record``
is the one place a call is counted: ``/metrics`` reads these figures as they are.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import quantiles
from typing import Any

LATENCY_WINDOW = 1000
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
"""Upper bounds of the latency histogram's buckets, in seconds (a last one, +Inf, takes the rest)."""


@dataclass
class ToolStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    total_s: float = 0.0
    recent_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    in_bucket: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    """Calls per latency bucket: ``in_bucket[i]`` took at most ``LATENCY_BUCKETS_S[i]`` and more than the
    bound before; the last one, longer than every bound."""

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    def snapshot(self) -> dict[str, Any]:
        calls = self.calls
        cuts = _percentiles(self.recent_s)
        return {
            "calls": calls,
            "outcomes": dict(self.outcomes),
            "mean_ms": round(self.total_s / calls * 1000, 3) if calls else None,
            "p50_ms": round(cuts[49] * 1000, 3) if cuts else None,
            "p95_ms": round(cuts[94] * 1000, 3) if cuts else None,
        }


@dataclass(frozen=True)
class CallSummary:
    calls: int
    errors: int
    p95_ms: float | None


class CallMetrics:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], ToolStats] = {}

    def record(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        stats = self._stats.setdefault((server, tool), ToolStats())
        stats.outcomes[outcome] += 1
        stats.total_s += seconds
        stats.recent_s.append(seconds)
        stats.in_bucket[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1

    def summary(self, servers: set[str]) -> CallSummary:
        """Calls to these servers' tools: how many, how many did not end ``ok``, the p95 of recent ones."""
        chosen = [stats for (server, _), stats in self._stats.items() if server in servers]
        latencies = sorted(value for stats in chosen for value in stats.recent_s)
        p95 = quantiles(latencies, n=100, method="inclusive")[94] if len(latencies) > 1 else None
        return CallSummary(
            calls=sum(stats.calls for stats in chosen),
            errors=sum(
                count for stats in chosen for outcome, count in stats.outcomes.items() if outcome != "ok"
            ),
            p95_ms=round(p95 * 1000, 3)
            if p95 is not None
            else (round(latencies[0] * 1000, 3) if latencies else None),
        )

    def items(self) -> list[tuple[str, str, ToolStats]]:
        """(server, tool, figures) of every tool called so far."""
        return [(server, tool, stats) for (server, tool), stats in sorted(self._stats.items())]

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {"server": server, "tool": tool, **stats.snapshot()}
            for (server, tool), stats in sorted(self._stats.items())
        ]


def _percentiles(latencies: Iterable[float]) -> list[float]:
    """The 1st to 99th percentiles of ``latencies`` (empty when there are none)."""
    ordered = sorted(latencies)
    return quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
