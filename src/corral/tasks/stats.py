"""What the dispatcher counts for ``/metrics``: routing decisions, the queue's depth, how long tasks
waited in it. Plain figures; the Prometheus collector reads them at each scrape."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from corral.calls.metrics import LATENCY_BUCKETS_S


@dataclass
class DispatchStats:
    decisions: Counter[str] = field(default_factory=Counter)
    """Routing decisions by outcome: ``dispatched`` (an agent took the task), ``waiting`` (none can
    now, one may later), ``refused`` (none ever could: the task failed)."""
    queue_depth: int = 0
    """Queued tasks at the last pass (up to one pass's batch)."""
    wait_total_s: float = 0.0
    wait_in_bucket: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    """Tasks by how long they waited from submission to dispatch, in the call-latency buckets."""

    def waited(self, seconds: float) -> None:
        self.wait_total_s += seconds
        self.wait_in_bucket[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
