"""Time as an injected dependency.

Pure logic (breaker, backoff) takes a ``Clock`` so tests drive time by hand;
the running hub uses ``SystemClock``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations and deadlines)."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware UTC (for records people read)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests of time-driven logic."""

    def __init__(self, start: float = 1000.0) -> None:
        self._t = start
        self._epoch = datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self._t)

    def advance(self, seconds: float) -> None:
        self._t += seconds
