"""One audit entry, and what a search of the log asks for."""

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
    id: int | None = None  # assigned by the store; None until stored


@dataclass(frozen=True)
class AuditFilter:
    """Entries that match every given field; ``target`` ending in ``*`` matches by prefix."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
