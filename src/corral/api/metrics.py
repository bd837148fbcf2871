"""``/metrics``: the hub's Prometheus metrics, for a scraper holding a viewer's API token.

They tell what the REST API tells a viewer (server states, call counts, workflow figures), so a
viewer may read them; like every route outside the health probes they need a bearer token. What the
metrics are is ``corral.observability.metrics``' business.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from corral.api.authz import needs
from corral.auth.principal import Role
from corral.errors import NotFound
from corral.observability.metrics import HubMetrics

router = APIRouter(tags=["metrics"])

TEXT = {"schema": {"type": "string"}}


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format; OpenMetrics when the Accept header asks)",
    dependencies=needs(Role.VIEWER),
    response_class=Response,
    responses={
        200: {
            "description": "Every metric of the hub.",
            "content": {"text/plain": TEXT, "application/openmetrics-text": TEXT},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Raises: NotFound when the app was built without the hub's metrics."""
    found: HubMetrics | None = getattr(request.app.state, "metrics", None)
    if found is None:
        raise NotFound("this hub does not collect metrics")
    body, content_type = await found.scrape(request.headers.get("accept"))
    return Response(body, media_type=content_type)
