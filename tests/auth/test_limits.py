"""Token buckets on a hand-driven clock."""

from __future__ import annotations

import pytest

from corral.auth.limits import SWEEP_EVERY, RateLimiter
from corral.clock import ManualClock


def test_a_burst_goes_through_and_the_next_request_is_told_how_long_to_wait() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=ManualClock())

    waits = [limiter.take("t") for _ in range(4)]

    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5)


def test_the_bucket_refills_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=10.0, burst=2, clock=clock)
    limiter.take("t")
    limiter.take("t")

    clock.advance(0.1)
    after_one_refill = [limiter.take("t"), limiter.take("t")]
    clock.advance(60)
    after_a_long_pause = [limiter.take("t") for _ in range(3)]

    assert after_one_refill[0] == 0.0
    assert after_one_refill[1] == pytest.approx(0.1)
    assert after_a_long_pause[:2] == [0.0, 0.0]
    assert after_a_long_pause[2] > 0


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=ManualClock())

    assert [limiter.take("a"), limiter.take("b")] == [0.0, 0.0]
    assert limiter.take("a") > 0


def test_a_refused_request_is_not_counted() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    limiter.take("t")
    for _ in range(10):
        limiter.take("t")

    clock.advance(1.0)

    assert limiter.take("t") == 0.0


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(rate_per_s=0, burst=1, clock=ManualClock())

    assert {limiter.take("t") for _ in range(1000)} == {0.0}


def test_buckets_that_refilled_are_forgotten() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=100.0, burst=10, clock=clock)
    for key in range(SWEEP_EVERY - 1):
        limiter.take(f"gone-{key}")
    clock.advance(1.0)

    limiter.take("recent")

    assert len(limiter) == 1
