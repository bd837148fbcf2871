"""A token bucket: how many messages a client may send, as a pure function of time."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; the caller passes the time in."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token; False when none is left (the message is over the limit)."""
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
