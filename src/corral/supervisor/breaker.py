"""The circuit breaker state machine, without I/O.

CLOSED → OPEN after ``threshold`` consecutive failures; OPEN → HALF_OPEN once
the cooldown has passed; HALF_OPEN → CLOSED on a success, back to OPEN (with a
longer cooldown) on a failure. The cooldown doubles on each re-open up to a cap
and returns to its base once the breaker closes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from corral.clock import Clock


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5
    cooldown_s: float = 10.0
    max_cooldown_s: float = 300.0


class CircuitBreaker:
    def __init__(self, clock: Clock, policy: BreakerPolicy) -> None:
        self._clock = clock
        self.policy = policy
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self._opens_in_a_row = 0
        self._opened_at = 0.0

    @property
    def cooldown_s(self) -> float:
        """The cooldown of the current (or next) open period."""
        grown = self.policy.cooldown_s * 2.0 ** max(self._opens_in_a_row - 1, 0)
        return min(grown, self.policy.max_cooldown_s)

    def seconds_until_probe(self) -> float:
        """How long an open breaker still refuses; 0 when a probe may go ahead."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock.monotonic())

    def allows_calls(self) -> bool:
        """Whether a call may go ahead now; moves OPEN → HALF_OPEN when the cooldown is over."""
        if self.state is CircuitState.OPEN and self.seconds_until_probe() == 0.0:
            self.state = CircuitState.HALF_OPEN
        return self.state is not CircuitState.OPEN

    def record_success(self) -> bool:
        """Count a good call or probe. Returns True when this changed the state."""
        changed = self.state is not CircuitState.CLOSED
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self._opens_in_a_row = 0
        return changed

    def record_failure(self) -> bool:
        """Count a failed call or probe. Returns True when this opened the breaker."""
        self.consecutive_failures += 1
        if self.state is CircuitState.HALF_OPEN or (
            self.state is CircuitState.CLOSED and self.consecutive_failures >= self.policy.threshold
        ):
            self.trip()
            return True
        return False

    def trip(self) -> None:
        """Open the breaker now, whatever the count (e.g. a server that keeps crashing)."""
        self.state = CircuitState.OPEN
        self._opens_in_a_row += 1
        self._opened_at = self._clock.monotonic()

    def reset(self) -> None:
        """Forget all history (an operator asked for a fresh start)."""
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self._opens_in_a_row = 0
