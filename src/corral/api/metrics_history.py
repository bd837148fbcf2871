"""``GET /api/v1/metrics/history``: the hub's recent ``metrics.tick`` figures, for charts.

A page that opens draws its charts from this at once, then appends each ``metrics.tick`` event it
receives. The ticks are the ticker's in-memory ring (the last day, not persisted across restarts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from corral.api.authz import needs
from corral.api.events import EventStreamContext
from corral.auth.principal import Role
from corral.errors import NotFound

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])


class Tick(BaseModel):
    time: datetime
    interval_s: float
    calls: int
    calls_per_s: float
    error_rate: float
    p95_ms: float | None
    open_circuits: int
    running_executions: int


class TickHistory(BaseModel):
    interval_s: float
    items: list[Tick]


@router.get(
    "/history",
    summary="The metrics ticks of the last day (in memory: a restarted hub starts again), oldest first",
    dependencies=needs(Role.VIEWER),
)
async def metrics_history(
    request: Request,
    since: Annotated[datetime | None, Query(description="Only ticks after this time.")] = None,
) -> TickHistory:
    """Raises: NotFound when the app was built without the event stream."""
    stream: EventStreamContext | None = getattr(request.app.state, "events", None)
    if stream is None:
        raise NotFound("this hub keeps no metrics history")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    ticks = [tick for tick in stream.ticker.history if since is None or tick["time"] > since]
    return TickHistory(interval_s=stream.settings.metrics_interval_s, items=[Tick(**tick) for tick in ticks])
