"""Liveness and readiness, open without a token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from corral.api.context import ApiContext, context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready: the store answers and every server has had its first start attempt",
    responses={503: {"description": "Not ready yet; the body says what is missing."}},
)
async def readyz(ctx: Annotated[ApiContext, Depends(context)]) -> JSONResponse:
    ready, detail = ctx.readiness()
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", **detail}
    return JSONResponse(body, status_code=200 if ready else 503)
