"""The limits each kind of record is kept within, read from the runtime settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from corral.settings.models import RuntimeSettings


@dataclass(frozen=True)
class Limits:
    """Keep rows younger than ``days`` and at most ``rows`` of them; 0 is no limit."""

    days: float
    rows: int

    def cutoff(self, now: datetime) -> datetime | None:
        return now - timedelta(days=self.days) if self.days else None


def limits(settings: RuntimeSettings) -> dict[str, Limits]:
    """Kind of record → its limits."""
    tasks = Limits(settings.tasks_keep_days, settings.tasks_keep_rows)
    return {
        "audit": Limits(settings.audit_keep_days, settings.audit_keep_rows),
        "events": Limits(settings.events_keep_days, settings.events_keep_rows),
        "executions": Limits(settings.executions_keep_days, settings.executions_keep_rows),
        "tasks": tasks,
        "task_groups": tasks,
        "pattern_applications": Limits(settings.applications_keep_days, settings.applications_keep_rows),
    }
