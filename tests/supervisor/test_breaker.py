from corral.clock import ManualClock
from corral.supervisor.breaker import BreakerPolicy, CircuitBreaker, CircuitState


def breaker(
    threshold: int = 5, cooldown: float = 10.0, cap: float = 300.0
) -> tuple[CircuitBreaker, ManualClock]:
    clock = ManualClock()
    return CircuitBreaker(clock, BreakerPolicy(threshold, cooldown, cap)), clock


def test_circuit_opens_after_five_consecutive_failures() -> None:
    circuit, _ = breaker()
    opened = [circuit.record_failure() for _ in range(5)]
    assert opened == [False, False, False, False, True]
    assert circuit.state is CircuitState.OPEN
    assert not circuit.allows_calls()


def test_a_success_resets_the_failure_count() -> None:
    circuit, _ = breaker(threshold=3)
    circuit.record_failure()
    circuit.record_failure()
    circuit.record_success()
    circuit.record_failure()
    circuit.record_failure()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 2


def test_open_circuit_goes_half_open_after_the_cooldown() -> None:
    circuit, clock = breaker(threshold=1, cooldown=10)
    circuit.record_failure()
    clock.advance(9.9)
    assert not circuit.allows_calls()
    assert 0 < circuit.seconds_until_probe() <= 0.1 + 1e-9
    clock.advance(0.1)
    assert circuit.allows_calls()
    assert circuit.state is CircuitState.HALF_OPEN


def test_half_open_closes_on_a_good_probe() -> None:
    circuit, clock = breaker(threshold=1)
    circuit.record_failure()
    clock.advance(10)
    assert circuit.allows_calls()
    assert circuit.record_success() is True
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 0


def test_failed_probe_reopens_with_a_cooldown_that_doubles_up_to_the_cap() -> None:
    circuit, clock = breaker(threshold=1, cooldown=10, cap=35)
    circuit.record_failure()
    cooldowns = []
    for _ in range(4):
        cooldowns.append(circuit.cooldown_s)
        clock.advance(circuit.cooldown_s)
        assert circuit.allows_calls()
        assert circuit.record_failure() is True
    assert cooldowns == [10, 20, 35, 35]


def test_cooldown_returns_to_base_after_the_circuit_closes() -> None:
    circuit, clock = breaker(threshold=1, cooldown=10)
    circuit.record_failure()
    clock.advance(10)
    circuit.allows_calls()
    circuit.record_failure()
    assert circuit.cooldown_s == 20
    clock.advance(20)
    circuit.allows_calls()
    circuit.record_success()
    circuit.record_failure()
    assert circuit.cooldown_s == 10


def test_trip_opens_at_once_whatever_the_count() -> None:
    circuit, _ = breaker()
    circuit.trip()
    assert circuit.state is CircuitState.OPEN
    circuit.reset()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.allows_calls()
