"""REST routes for patterns and their applications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from corral.api.context import ApiContext, context
from corral.patterns.models import Pattern

router = APIRouter(prefix="/api/v1", tags=["patterns"])
Ctx = Annotated[ApiContext, Depends(context)]


class PatternList(BaseModel):
    items: list[dict[str, Any]]
    problems: list[dict[str, str]] = Field(
        description="Pattern files that were skipped: file, key and what is wrong."
    )


class ApplyIn(BaseModel):
    target: str = Field(description="The server (or, for a tag pattern, the tag) to apply the pattern to.")
    params: dict[str, Any] = Field(default_factory=dict, description="The pattern's parameters.")


class ApplicationList(BaseModel):
    items: list[dict[str, Any]]


def pattern_view(ctx: ApiContext, pattern: Pattern) -> dict[str, Any]:
    return {
        **pattern.summary(),
        "source": ctx.patterns.library.source(pattern.id),
        "workflow": pattern.workflow.model_dump(mode="json"),
    }


@router.get("/patterns", summary="Patterns: the built-ins and those loaded from the patterns folder")
async def list_patterns(ctx: Ctx) -> PatternList:
    return PatternList(
        items=[pattern_view(ctx, pattern) for pattern in ctx.patterns.patterns()],
        problems=[problem.to_json() for problem in ctx.patterns.library.problems],
    )


@router.get("/patterns/applications", summary="Applications of patterns, newest first")
async def list_applications(
    ctx: Ctx,
    pattern_id: Annotated[str | None, Query(description="Only applications of this pattern.")] = None,
    status: Annotated[str | None, Query(description="Only applications with this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ApplicationList:
    applications = await ctx.patterns.applications(pattern_id=pattern_id, status=status, limit=limit)
    return ApplicationList(items=[application.to_json() for application in applications])


@router.get("/patterns/applications/{application_id}", summary="One application with its results")
async def get_application(application_id: str, ctx: Ctx) -> dict[str, Any]:
    return (await ctx.patterns.application(application_id)).to_json()


@router.get("/patterns/{pattern_id}", summary="A pattern with its workflow template")
async def get_pattern(pattern_id: str, ctx: Ctx) -> dict[str, Any]:
    return pattern_view(ctx, ctx.patterns.pattern(pattern_id))


@router.post(
    "/patterns/{pattern_id}/validate",
    summary="Whether the pattern can be applied to a target: every precondition and parameter judged",
)
async def validate_pattern(pattern_id: str, body: ApplyIn, ctx: Ctx) -> dict[str, Any]:
    return ctx.patterns.validate(pattern_id, body.target, body.params).to_json()


@router.post(
    "/patterns/{pattern_id}/apply",
    status_code=202,
    summary="Validate, instantiate and run the pattern; 422 with every failure when it cannot apply",
)
async def apply_pattern(pattern_id: str, body: ApplyIn, ctx: Ctx) -> dict[str, Any]:
    return (await ctx.patterns.apply(pattern_id, body.target, body.params)).to_json()
