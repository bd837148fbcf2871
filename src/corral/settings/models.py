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

    # Retention: 0 means no limit. Rows past either limit are pruned, oldest first.
    audit_keep_days: float = Field(
        90.0, ge=0, description="Audit entries older than this are archived, then pruned."
    )
    audit_keep_rows: int = Field(10_000_000, ge=0, description="Audit entries kept in the store at most.")
    audit_archive: bool = Field(
        True, description="Archive audit entries (gzip JSON lines, one file a day) before they are pruned."
    )
    events_keep_days: float = Field(7.0, ge=0, description="Stored events older than this are pruned.")
    events_keep_rows: int = Field(
        2_000_000, ge=0, description="Stored events kept at most: how far back a WebSocket client can resume."
    )
    executions_keep_days: float = Field(
        30.0,
        ge=0,
        description="Finished executions (with their steps and events) older than this are pruned.",
    )
    executions_keep_rows: int = Field(100_000, ge=0, description="Finished executions kept at most.")
    tasks_keep_days: float = Field(
        30.0, ge=0, description="Finished tasks and task groups older than this are pruned."
    )
    tasks_keep_rows: int = Field(
        100_000, ge=0, description="Finished tasks kept at most, and finished task groups kept at most."
    )
    applications_keep_days: float = Field(
        90.0, ge=0, description="Finished pattern applications older than this are pruned."
    )
    applications_keep_rows: int = Field(
        10_000, ge=0, description="Finished pattern applications kept at most."
    )
    prune_interval_s: float = Field(
        60.0, gt=0, description="Time between two retention passes over the store."
    )
    prune_batch_rows: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Most rows one pruning transaction deletes (fewer when it runs long).",
    )
