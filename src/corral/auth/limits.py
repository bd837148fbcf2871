"""Token buckets, one per key (an API token, a login session, a client address).

Pure logic on an injected clock. Each bucket holds up to ``burst`` requests and
refills at ``rate_per_s``; a request that finds it empty is told how long to
wait. Buckets that have refilled completely are forgotten now and then, so keys
that come and go do not pile up.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.clock import Clock

SWEEP_EVERY = 4096


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        """``rate_per_s`` 0 turns the limit off."""
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._takes = 0

    def take(self, key: str) -> float:
        """0.0 when the request may go ahead (and is counted); otherwise the seconds until it may."""
        if self.rate_per_s <= 0:
            return 0.0
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate_per_s)
            bucket.at = now
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate_per_s
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if now - bucket.at < full_after}
