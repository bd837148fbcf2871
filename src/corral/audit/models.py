"""One audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    time: datetime
    actor: str
    action: str
    target: str
    outcome: str
    source: str = ""
    duration_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
