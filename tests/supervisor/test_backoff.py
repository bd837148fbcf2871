import random

from corral.supervisor.backoff import Backoff, BackoffPolicy


def test_delays_double_from_the_initial_wait_up_to_the_maximum() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.5, maximum_s=4.0, jitter=0.0), random.Random(1))
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_spreads_delays_within_the_given_fraction() -> None:
    policy = BackoffPolicy(initial_s=1.0, maximum_s=1.0, jitter=0.2)
    rng = random.Random(7)
    delays = [policy.delay(0, rng) for _ in range(500)]
    assert all(0.8 <= delay <= 1.2 for delay in delays)
    assert max(delays) - min(delays) > 0.3, "jitter should actually spread the delays"


def test_reset_starts_again_from_the_initial_wait() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=1.0, maximum_s=60.0, jitter=0.0))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert BackoffPolicy(initial_s=1.0, maximum_s=30.0, jitter=0.0).delay(10_000, random.Random()) == 30.0
