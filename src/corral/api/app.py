"""The FastAPI application: routes, error mapping, auth middleware."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from corral import __version__
from corral.api import (
    audit,
    health,
    login,
    metrics,
    metrics_history,
    nodes,
    openapi,
    patterns,
    problems,
    projects,
    retention,
    servers,
    session,
    settings,
    tasks,
    tokens,
    tools,
    users,
    workflows,
)
from corral.api.audit_trail import AuditTrail
from corral.api.auth import BearerAuth
from corral.api.authz import Access, by_method
from corral.api.context import ApiContext
from corral.api.events import AcceptBeforeClose, EventStreamContext
from corral.api.events import router as events_router
from corral.api.ratelimit import RateLimit, is_mcp_path
from corral.auth.limits import RateLimiter
from corral.auth.principal import Authenticator
from corral.dashboard import files as dashboard
from corral.observability.metrics import HubMetrics


def create_api(
    ctx: ApiContext,
    *,
    authenticator: Authenticator | None,
    access: Access,
    events: EventStreamContext | None = None,
    mcp: ASGIApp | None = None,
    hub_metrics: HubMetrics | None = None,
) -> ASGIApp:
    """The hub's HTTP app; ``authenticator=None`` serves without authentication.

    ``mcp`` serves the MCP endpoints (``/mcp``, ``/servers/{name}/mcp``) behind the same authentication
    and rate limits as the REST routes, but not behind the REST routing and middleware: a tool call is
    the hot path, and going through every route's match and every REST layer cost it more than auth.
    """
    app = FastAPI(
        title="Corral",
        version=__version__,
        description="One hub for a fleet of MCP servers.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.corral = ctx
    app.state.events = events
    app.state.access = access
    app.state.metrics = hub_metrics
    problems.install(app)
    app.include_router(health.router)
    app.include_router(servers.router)
    app.include_router(tools.router)
    app.include_router(settings.router)
    app.include_router(workflows.router, dependencies=by_method())
    app.include_router(patterns.router, dependencies=by_method())
    app.include_router(tasks.router, dependencies=by_method())
    app.include_router(projects.router, dependencies=by_method())
    app.include_router(events_router)
    app.include_router(login.router)
    app.include_router(session.router)
    app.include_router(users.router)
    app.include_router(tokens.router)
    app.include_router(audit.router)
    app.include_router(metrics.router)
    app.include_router(nodes.router)
    app.include_router(retention.router)
    app.include_router(metrics_history.router)
    openapi.document_errors(app)  # after every route
    # Innermost first: the audit trail sees every route's outcome, the rate limit the caller
    # the auth middleware found.
    app.add_middleware(AuditTrail, audit=access.audit, clock=access.clock)
    limits = access.settings
    # One set of buckets for REST, WebSocket and MCP: a token's budget is the same whichever it uses.
    per_token = RateLimiter(limits.rate_limit_per_s, limits.rate_limit_burst, access.clock)
    logins = RateLimiter(limits.login_rate_per_s, limits.login_burst, access.clock)
    app.add_middleware(RateLimit, per_token=per_token, logins=logins)
    app.add_middleware(BearerAuth, authenticator=authenticator)
    app.add_middleware(AcceptBeforeClose)  # outside BearerAuth: its WebSocket refusals keep their code
    guarded_mcp = (
        None
        if mcp is None
        else BearerAuth(RateLimit(mcp, per_token=per_token, logins=logins), authenticator=authenticator)
    )
    return _Dispatch(rest=app, mcp=guarded_mcp, dashboard=dashboard.dashboard(auth=authenticator is not None))


class _Dispatch:
    """MCP and the dashboard's static files go straight to their apps; everything else to REST."""

    def __init__(self, rest: ASGIApp, mcp: ASGIApp | None, dashboard: ASGIApp) -> None:
        self._rest = rest
        self._mcp = mcp
        self._dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._mcp is not None and is_mcp_path(scope["path"]):
            await self._mcp(scope, receive, send)
        elif scope["type"] == "http" and dashboard.serves(scope["path"]):
            await self._dashboard(scope, receive, send)
        else:
            await self._rest(scope, receive, send)
