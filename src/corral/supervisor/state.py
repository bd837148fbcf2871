"""What the hub knows about one server right now, and how it reads in the API."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import mcp_types as types

from corral.supervisor.breaker import CircuitState
from corral.upstream.catalog import UpstreamCatalog


class ServerStatus(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DISCONNECTED = "disconnected"
    CIRCUIT_OPEN = "circuit_open"
    DISABLED = "disabled"
    UNKNOWN = "unknown"

    @property
    def serving(self) -> bool:
        return self in (ServerStatus.HEALTHY, ServerStatus.DEGRADED)


RECENT_CHECKS = 30
"""Health checks each server keeps in memory for its history."""


@dataclass(frozen=True)
class HealthCheck:
    """The result of one layered health check; ``reason`` is a stable code."""

    ok: bool
    reason: str
    message: str
    at: datetime
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "at": self.at.isoformat(),
            "latency_ms": self.latency_ms,
        }


@dataclass
class ServerState:
    """Mutable, written only by the server's runner."""

    name: str
    transport: str
    status: ServerStatus = ServerStatus.UNKNOWN
    detail: str = ""
    circuit_state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    restarts: int = 0
    crashes_in_a_row: int = 0
    pid: int | None = None
    last_error: str | None = None
    latency_ms: float | None = None
    last_check: HealthCheck | None = None
    recent_checks: deque[HealthCheck] = field(default_factory=lambda: deque(maxlen=RECENT_CHECKS))
    """The latest health checks, oldest first: a page opened now has a history at once."""
    last_recovery_at: datetime | None = None
    up_since: float | None = None
    down_since: float | None = None
    downtime_s: float = 0.0
    calls_in_flight: int = 0
    catalog: UpstreamCatalog = field(default_factory=UpstreamCatalog)
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def tools(self) -> list[types.Tool]:
        return self.catalog.tools

    def uptime_s(self, monotonic_now: float) -> float | None:
        return None if self.up_since is None else max(0.0, monotonic_now - self.up_since)

    def total_downtime_s(self, monotonic_now: float) -> float:
        ongoing = 0.0 if self.down_since is None else monotonic_now - self.down_since
        return self.downtime_s + max(0.0, ongoing)

    def to_json(self, monotonic_now: float) -> dict[str, Any]:
        uptime = self.uptime_s(monotonic_now)
        return {
            "name": self.name,
            "transport": self.transport,
            "status": self.status.value,
            "detail": self.detail,
            "circuit_state": self.circuit_state.value,
            "consecutive_failures": self.consecutive_failures,
            "restarts": self.restarts,
            "pid": self.pid,
            "last_error": self.last_error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "uptime_s": None if uptime is None else round(uptime, 3),
            "total_downtime_s": round(self.total_downtime_s(monotonic_now), 3),
            "last_recovery_at": self.last_recovery_at.isoformat() if self.last_recovery_at else None,
            "last_check": self.last_check.to_json() if self.last_check else None,
            "recent_checks": [check.to_json() for check in self.recent_checks],
            "calls_in_flight": self.calls_in_flight,
            "tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in self.tools],
        }
