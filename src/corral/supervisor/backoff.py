"""Exponential backoff with jitter for restarts, without I/O.

The delay before restart ``n`` (counting from 0) is ``initial * 2**n`` capped at
``maximum``, spread by ±``jitter`` (a fraction) so that many servers that failed
together do not all come back in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackoffPolicy:
    initial_s: float = 0.5
    maximum_s: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.initial_s * 2.0 ** min(attempt, 32), self.maximum_s)
        spread = base * self.jitter
        return max(0.0, base + rng.uniform(-spread, spread))


@dataclass
class Backoff:
    """Counts consecutive restarts of one server and says how long to wait before the next."""

    policy: BackoffPolicy
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        delay = self.policy.delay(self.attempt, self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
