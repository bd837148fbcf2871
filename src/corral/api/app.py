"""The FastAPI application: routes, error mapping, auth middleware."""

from __future__ import annotations

from fastapi import FastAPI

from corral import __version__
from corral.api import health, problems, servers, settings, workflows
from corral.api.auth import BearerAuth
from corral.api.context import ApiContext
from corral.auth.principal import Authenticator


def create_api(ctx: ApiContext, *, authenticator: Authenticator | None) -> FastAPI:
    """The hub's HTTP app; ``authenticator=None`` serves without authentication."""
    app = FastAPI(
        title="Corral",
        version=__version__,
        description="One hub for a fleet of MCP servers.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.corral = ctx
    problems.install(app)
    app.include_router(health.router)
    app.include_router(servers.router)
    app.include_router(settings.router)
    app.include_router(workflows.router)
    app.add_middleware(BearerAuth, authenticator=authenticator)
    return app
