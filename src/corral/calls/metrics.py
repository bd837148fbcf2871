"""Counting tool calls through the gateway: per server and tool, by outcome, with latencies.

Kept in memory for the metrics endpoint and the dashboard; a bounded window of
recent latencies per tool gives percentiles without unbounded growth.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from statistics import quantiles
from typing import Any

LATENCY_WINDOW = 1000


@dataclass
class ToolStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    total_s: float = 0.0
    recent_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def snapshot(self) -> dict[str, Any]:
        calls = sum(self.outcomes.values())
        latencies = sorted(self.recent_s)
        cuts = quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
        return {
            "calls": calls,
            "outcomes": dict(self.outcomes),
            "mean_ms": round(self.total_s / calls * 1000, 3) if calls else None,
            "p50_ms": round(cuts[49] * 1000, 3) if cuts else None,
            "p95_ms": round(cuts[94] * 1000, 3) if cuts else None,
        }


class CallMetrics:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], ToolStats] = {}

    def record(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        stats = self._stats.setdefault((server, tool), ToolStats())
        stats.outcomes[outcome] += 1
        stats.total_s += seconds
        stats.recent_s.append(seconds)

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {"server": server, "tool": tool, **stats.snapshot()}
            for (server, tool), stats in sorted(self._stats.items())
        ]
