"""REST routes for the runtime settings (thresholds, intervals, timeouts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from corral.api.audit_trail import describe
from corral.api.authz import needs
from corral.api.context import ApiContext, context
from corral.auth.principal import Role
from corral.settings.models import RuntimeSettings

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])
Ctx = Annotated[ApiContext, Depends(context)]


@router.get("", summary="The runtime settings in force", dependencies=needs(Role.VIEWER))
async def get_settings(ctx: Ctx) -> RuntimeSettings:
    return ctx.settings.current


@router.patch(
    "",
    summary="Change some runtime settings; they are stored and take effect at once",
    dependencies=needs(Role.ADMIN),
)
async def change_settings(
    changes: Annotated[dict[str, Any], Body(examples=[{"failure_threshold": 3}])], ctx: Ctx, request: Request
) -> RuntimeSettings:
    describe(request, changes=changes)
    return await ctx.settings.update(changes)
