"""The tunable values: supervision thresholds, intervals and timeouts."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from corral.strict import StrictModel


class RuntimeSettings(StrictModel):
    model_config = ConfigDict(frozen=True)

    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a server's circuit.")
    cooldown_s: float = Field(
        10.0, gt=0, description="First open period of a circuit; doubles on each re-open."
    )
    max_cooldown_s: float = Field(300.0, gt=0, description="Longest open period of a circuit.")
    ping_interval_s: float = Field(10.0, gt=0, description="Time between health checks of a running server.")
    ping_timeout_s: float = Field(5.0, gt=0, description="Deadline of one health check.")
    degraded_latency_ms: float = Field(
        2000.0, gt=0, description="A slower health check marks the server degraded."
    )
    connect_timeout_s: float = Field(
        30.0, gt=0, description="Deadline for a server to start and finish its handshake."
    )
    call_timeout_s: float = Field(60.0, gt=0, description="Default deadline of a tool call.")
    restart_initial_s: float = Field(0.5, ge=0, description="Wait before the first restart after a failure.")
    restart_max_s: float = Field(30.0, ge=0, description="Longest wait between restarts.")
    restart_jitter: float = Field(
        0.2, ge=0, le=1, description="Random spread of restart waits, as a fraction."
    )
    crash_limit: int = Field(
        5, ge=1, description="Crashes in a row that open the circuit instead of restarting."
    )
    stable_period_s: float = Field(
        60.0, gt=0, description="Uptime after which a server's crash count resets."
    )
